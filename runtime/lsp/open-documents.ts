// Document synchronisation of the language server: keeps the text of every open document from
// didOpen/didChange/didClose (incremental sync, full-text changes accepted too) and tells its
// listener each change as offset edits, so that the language worker can re-check the changed
// lines (compiler/incremental.ts) instead of the whole file. Offsets are UTF-16 code units, as
// LSP's positions are, computed on the text each change applies to.
import type { Connection, TextDocumentContentChangeEvent } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';

/** A change of one document: offset edits applied in order, or a whole new text. */
export type DocumentChange =
  | { readonly kind: 'full'; readonly text: string }
  | { readonly kind: 'edits'; readonly edits: readonly { readonly start: number; readonly end: number; readonly text: string }[] };

export interface OpenDocumentsListener {
  /** A document was opened (`change` is its whole text) or changed; `version` is the client's. */
  changed(uri: string, version: number, change: DocumentChange, text: string): void;
  closed(uri: string): void;
}

export interface OpenDocuments {
  get(uri: string): TextDocument | undefined;
  all(): TextDocument[];
  /** Registers the handlers of didOpen, didChange and didClose on `connection`. */
  listen(connection: Connection): void;
}

export function createOpenDocuments(listener: OpenDocumentsListener): OpenDocuments {
  const documents = new Map<string, TextDocument>();
  return {
    get: (uri) => documents.get(uri),
    all: () => [...documents.values()],
    listen(connection) {
      connection.onDidOpenTextDocument(({ textDocument: t }) => {
        const doc = TextDocument.create(t.uri, t.languageId, t.version, t.text);
        documents.set(t.uri, doc);
        listener.changed(t.uri, t.version, { kind: 'full', text: t.text }, t.text);
      });
      connection.onDidChangeTextDocument(({ textDocument: t, contentChanges }) => {
        const doc = documents.get(t.uri);
        // A change of a document the client never opened is a client bug: nothing to apply it to.
        if (!doc || contentChanges.length === 0) return;
        listener.changed(t.uri, t.version ?? doc.version + 1, openDocumentsApply(doc, contentChanges, t.version ?? doc.version + 1), doc.getText());
      });
      connection.onDidCloseTextDocument(({ textDocument: t }) => {
        if (!documents.delete(t.uri)) return;
        listener.closed(t.uri);
      });
    },
  };
}

/**
 * Applies the changes to `doc` one at a time (each one's range is in the text the previous ones
 * left, as the protocol says) and returns them as offset edits; a full-text change among them
 * makes the whole a full text.
 */
function openDocumentsApply(doc: TextDocument, changes: readonly TextDocumentContentChangeEvent[], version: number): DocumentChange {
  const edits: { start: number; end: number; text: string }[] = [];
  let full = false;
  for (const change of changes) {
    if ('range' in change) {
      // TextDocument.update orders a reversed range; offsetAt is monotone, so min/max does too.
      const a = doc.offsetAt(change.range.start);
      const b = doc.offsetAt(change.range.end);
      edits.push({ start: Math.min(a, b), end: Math.max(a, b), text: change.text });
    } else full = true;
    TextDocument.update(doc, [change], version);
  }
  return full ? { kind: 'full', text: doc.getText() } : { kind: 'edits', edits };
}
