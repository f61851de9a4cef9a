// The access log in Evy's format: Python %-style formats compiled once, the
// dates made once a second, and what a client sent escaped before it is
// written, so that control bytes in a request line cannot forge log lines or
// drive a terminal.

// ---- dates -------------------------------------------------------------------------

let dateSecond = -1;
let httpDate = '';
let logDateSecond = -1;
let logDate = '';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The Date header's value, made once a second. */
export function currentHttpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    httpDate = new Date(now).toUTCString();
  }
  return httpDate;
}

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

/** The access log's local time, `12/Mar/2024 13:04:05`, made once a second. */
export function currentLogDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== logDateSecond) {
    logDateSecond = s;
    const d = new Date(now);
    logDate = `${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }
  return logDate;
}

// ---- the access log ----------------------------------------------------------------

export interface LogRecord {
  client_ip: string;
  client_port: string;
  date_time: string;
  request_line: string;
  status_code: string;
  body_length: number;
  wall_seconds: number;
}

type LogPart = string | ((r: LogRecord) => string);

/** Compiles a Python %-format over LogRecord's names (`%(name)s`, `%(name)d`, `%(name).6f`, `%%`). */
export function compileLogFormat(format: string): (r: LogRecord) => string {
  const parts: LogPart[] = [];
  const re = /%(?:\((\w+)\)([-+ 0#]*\d*)(?:\.(\d+))?([sdifr])|%)/g;
  let last = 0;
  for (let m = re.exec(format); m !== null; m = re.exec(format)) {
    parts.push(format.slice(last, m.index));
    last = re.lastIndex;
    if (m[0] === '%%') {
      parts.push('%');
      continue;
    }
    const name = m[1] as keyof LogRecord;
    const known: (keyof LogRecord)[] = ['client_ip', 'client_port', 'date_time', 'request_line', 'status_code', 'body_length', 'wall_seconds'];
    if (!known.includes(name)) throw new RangeError(`logFormat: unknown field '${m[1]}' (known: ${known.join(', ')})`);
    const width = Number(/\d+/.exec(m[2])?.[0] ?? 0);
    const left = m[2].includes('-');
    const precision = m[3] === undefined ? -1 : Number(m[3]);
    const conv = m[4];
    parts.push((r) => {
      const v = r[name];
      let s: string;
      if (conv === 'f') s = Number(v).toFixed(precision < 0 ? 6 : precision);
      else if (conv === 'd' || conv === 'i') s = String(Math.trunc(Number(v)));
      else s = precision >= 0 ? String(v).slice(0, precision) : String(v);
      return s.length >= width ? s : left ? s.padEnd(width) : s.padStart(width);
    });
  }
  parts.push(format.slice(last));
  const live = parts.filter((p) => p !== '');
  return (r) => {
    let out = '';
    for (const p of live) out += typeof p === 'string' ? p : p(r);
    return out + '\n';
  };
}

/**
 * `s` (latin1, as a client sent it) with control bytes, DEL, '\\' and '"'
 * escaped as `\xHH`, `\\` and `\"` (the way nginx escapes its log), and
 * non-ASCII bytes as `\xHH` too: one request, one log line.
 */
export function escapeLogText(s: string): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(last, i) + (c === 0x22 ? '\\"' : c === 0x5c ? '\\\\' : '\\x' + (c < 16 ? '0' : '') + (c & 0xff).toString(16));
    last = i + 1;
  }
  return last === 0 ? s : out + s.slice(last);
}
