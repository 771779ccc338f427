// The data path's version: the layouts the kernel shares with segc (map keys and values, the
// config and slot headers, pin names). A deployment records it, and `segc --version` names it.

/**
 * The data-path version this segc carries. A positive integer, bumped with every change to a
 * layout the kernel shares, so that an installed package says which deployments it can adopt.
 */
export const DATAPATH_VERSION = 1;
