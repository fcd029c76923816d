/**
 * Text order for sorting names and ids: by UTF-16 code units, as `<` compares. The same on every host whatever its
 * locale (a list or a tie-break never depends on where it was computed), and cheap: the first
 * `String.prototype.localeCompare` in a process builds an ICU collator and maps its collation data, ~3 MB of an
 * idle agent's RSS (docs/footprint.md). Lint forbids localeCompare in src/.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts records by their `name` (compareText). */
export function byName(a: { name: string }, b: { name: string }): number {
  return compareText(a.name, b.name);
}
