/**
 * Loads an app list against the pipeline and refuses, before anything touches the switch, a list the pipeline
 * does not agree with: two apps of one name, an app without a cookie id, tables written by an app that does not
 * own them (or owned tables no app declares), a handler for an opcode that is not declared or is another app's,
 * and a declared opcode of a loaded app with no handler (its packets would be dropped unseen).
 */
import type { PipelineTables } from '../pipeline/tables.js';
import type { App, AppContext, AppRuntime, PacketInHandler } from './platform.js';

export class AppRegistryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppRegistryError';
  }
}

/** The handler an opcode id is routed to. */
export interface OpcodeRoute {
  app: string;
  opcode: string;
  handle: PacketInHandler;
}

export interface LoadedApps {
  readonly apps: readonly { app: App; runtime: AppRuntime }[];
  /** Opcode id → the owning app's handler. */
  readonly routes: ReadonlyMap<number, OpcodeRoute>;
  /** Every app's counters by app name (for status). */
  counters(): Record<string, object>;
}

/** The static checks: names, cookie ids and table ownership (no app is created). */
export function checkApps(tables: PipelineTables, apps: readonly App[]): void {
  const { pipeline } = tables;
  const names = new Set<string>();
  for (const app of apps) {
    if (names.has(app.name)) throw new AppRegistryError(`app ${app.name} is registered twice`);
    names.add(app.name);
    if (app.name === 'pipeline' || !(app.name in pipeline.cookies.apps))
      throw new AppRegistryError(`app ${app.name} has no cookie id in pipelines/ (cookies.apps)`);
    for (const t of app.tables) {
      const def = pipeline.tables.find((d) => d.name === t);
      if (!def) throw new AppRegistryError(`app ${app.name} declares unknown table ${t}`);
      if (def.owner !== app.name) throw new AppRegistryError(`app ${app.name} declares table ${t}, owned by ${def.owner} in pipelines/`);
    }
    for (const def of pipeline.tables)
      if (def.owner === app.name && !app.tables.includes(def.name))
        throw new AppRegistryError(`pipelines/ gives table ${def.name} to app ${app.name}, which does not declare it`);
  }
}

/** Checks the list, creates every app with its context and routes each opcode to its owner's handler. */
export function loadApps(tables: PipelineTables, apps: readonly App[], context: (app: App) => AppContext): LoadedApps {
  checkApps(tables, apps);
  const loaded = apps.map((app) => ({ app, runtime: app.create(context(app)) }));
  const routes = new Map<number, OpcodeRoute>();
  for (const { app, runtime } of loaded) {
    for (const [opcode, handle] of Object.entries(runtime.packetIn ?? {})) {
      const def = tables.pipeline.opcodes[opcode];
      if (!def) throw new AppRegistryError(`app ${app.name} handles packet-in opcode ${opcode}, which pipelines/ does not declare`);
      if (def.owner !== app.name) throw new AppRegistryError(`app ${app.name} handles packet-in opcode ${opcode}, owned by ${def.owner}`);
      routes.set(def.id, { app: app.name, opcode, handle });
    }
  }
  for (const def of Object.values(tables.pipeline.opcodes))
    if (!routes.has(def.id) && loaded.some(({ app }) => app.name === def.owner))
      throw new AppRegistryError(`app ${def.owner} has no handler for its packet-in opcode ${def.name}`);
  return {
    apps: loaded,
    routes,
    counters: () =>
      Object.fromEntries(loaded.filter(({ runtime }) => runtime.counters).map(({ app, runtime }) => [app.name, runtime.counters!])),
  };
}
