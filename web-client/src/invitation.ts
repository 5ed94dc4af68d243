//! Invitation links: `PUBLIC_URL/enrol#CODE`; the code travels in the fragment, never to a server.
//! Reads the code from a link, a pasted link or a bare code.

/** The code from a link's fragment (`/enrol#CODE`), a pasted link, or a bare code. */
export function codeFrom(text: string): string {
  const t = text.trim();
  const i = t.lastIndexOf('#');
  return i >= 0 ? t.slice(i + 1).trim() : t;
}
