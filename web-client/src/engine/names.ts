//! The names the app shows for the members of its conversations. MLS credentials carry no name
//! (the server stores KeyPackages), so a name comes from the directory (a person's devices), from
//! the requester's own encrypted `name` message (a pseudonymous support requester), or from what
//! this device showed before; otherwise a neutral placeholder.

/** Shown for a member whose name this device has not learned (yet). */
export const UNKNOWN_NAME = 'Someone';

/** Longest chosen name, in characters (the reach-out form's limit). */
export const MAX_NAME_LENGTH = 60;

/** A name a requester chose, as it may be shown: trimmed, 1–60 characters, no control characters. */
export function cleanName(name: string): string | null {
  const n = name.trim();
  // eslint-disable-next-line no-control-regex
  if (!n || [...n].length > MAX_NAME_LENGTH || /[\u0000-\u001f\u007f-\u009f]/.test(n)) return null;
  return n;
}

export class Names {
  /** Linked mailbox → the account's display name, from `/v1/directory`. */
  private readonly directory = new Map<string, string>();
  /** Unlinked mailbox → the name its holder sent inside the conversation. */
  private readonly chosen = new Map<string, string>();
  /** Mailbox → the name stored with a conversation (known before this page life). */
  private readonly stored = new Map<string, string>();

  /** Records the directory's names; true if any name is new or changed. */
  learnDirectory(people: { display_name: string; mailboxes: string[] }[]): boolean {
    let changed = false;
    for (const p of people) {
      for (const mb of p.mailboxes) {
        if (this.directory.get(mb) !== p.display_name) changed = true;
        this.directory.set(mb, p.display_name);
      }
    }
    return changed;
  }

  /** Whether the directory named this mailbox (a device's linked mailbox). */
  inDirectory(mailbox: string): boolean {
    return this.directory.has(mailbox);
  }

  /** The holder of an unlinked mailbox says it goes by `name`; true if that changed anything. */
  choose(mailbox: string, name: string): boolean {
    if (this.directory.has(mailbox) || this.chosen.get(mailbox) === name) return false;
    this.chosen.set(mailbox, name);
    return true;
  }

  /** A name shown before (from a stored conversation), used until a fresher one is learned. */
  remember(mailbox: string, name: string): void {
    if (name !== UNKNOWN_NAME) this.stored.set(mailbox, name);
  }

  of(mailbox: string): string {
    return this.directory.get(mailbox) ?? this.chosen.get(mailbox) ?? this.stored.get(mailbox) ?? UNKNOWN_NAME;
  }

  /** Whether any name is known for `mailbox`. */
  known(mailbox: string): boolean {
    return this.of(mailbox) !== UNKNOWN_NAME;
  }
}
