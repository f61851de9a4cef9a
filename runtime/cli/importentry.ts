// `evy run`'s entry when it is an ES module is imported from here: a file
// that compiles as usual, where import() finds Node's loader. A function
// compiled from V8's code cache (compilecache.ts, which leaves out every file
// that calls import()) has lost it on Node 20.

/** `import(url)`, from a module Node compiled itself. */
export function importEntry(url: string): Promise<unknown> {
  return import(url);
}
