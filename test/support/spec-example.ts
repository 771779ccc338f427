// Test support: the first example of the language spec (spec/language.md), byte for byte,
// which several stages' tests take as their realistic input.

export const SPEC_EXAMPLE = `# web.seg: policy for the web-tier hosts
include "common.seg"

set office   = { 10.20.0.0/16, 2001:db8:20::/48 }
set web_tier = 10.0.1.0/24
set db_tier  = { 10.0.2.0/24, 10.0.3.0/24 }
set admins   = office except { 10.20.99.0/24 }

ports web       = { 80, 443 }
ports ephemeral = 32768-60999

policy ingress default deny {
  100 public-web:  allow tcp  from any    to web_tier port web      "public web"
  200 ssh-office:  allow tcp  from admins to any port 22
  300              deny  any  from any    to db_tier
  400              log   udp  from any    to any port 53
  500              allow icmp from office to any icmp echo-request
  600              deny log tcp from any port ephemeral to any port { 1-1023 }
}

policy egress default allow {
  100 no-mail: deny tcp from any to any port { 25, 465, 587 }
}
`;
