// The crawlers' one request: a page's status and body, through urlopen or, with
// --fetch first on the command line, through the global fetch, which `evy run`
// makes green: the Timeout around it aborts the request and closes its
// connection, as urlopen's own timeout does.
import { withTimeout } from 'evy';
import { urlopen } from 'evy/patched/http';

/** `--fetch` was given. */
export const useFetch = process.argv[2] === '--fetch';
/** The command-line arguments after the script (and after --fetch). */
export const args = process.argv.slice(useFetch ? 3 : 2);

/** GETs `url`: urlopen with 10 seconds per wait, or fetch with 10 seconds in all. */
export async function getPage(url: string): Promise<{ status: number; body: Buffer }> {
  if (!useFetch) {
    const res = await urlopen(url, { timeout: 10 });
    return { status: res.status, body: await res.read() };
  }
  return withTimeout(10, async () => {
    const res = await fetch(url);
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  });
}
