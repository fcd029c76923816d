export function formatFlow(_f: unknown): string { return ''; }
export function formatMatch(_m: unknown): string { return ''; }
export function formatActions(_a: unknown): string { return ''; }
export function formatInstructions(_a: unknown): string { return ''; }
