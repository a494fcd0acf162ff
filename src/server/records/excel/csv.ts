// CSV as plants really send it: UTF-8 with or without a BOM, GBK/GB18030 from a Chinese Excel
// ("CSV (逗号分隔)"), UTF-16 from "Unicode text"; comma, semicolon or tab separated; quoted cells
// with embedded separators, quotes ("") and line breaks (RFC 4180). And CSV written by export:
// UTF-8 with a BOM (so Excel on a Chinese Windows opens it correctly) and CRLF line ends.
import { badRequest } from '../../platform/index.ts';

export type CsvEncoding = 'utf-8' | 'utf-8-bom' | 'gb18030' | 'utf-16le' | 'utf-16be';

/** Turns the bytes of a CSV file into text, detecting the encoding. 400 when it is not text. */
export function decodeCsv(bytes: Uint8Array): { text: string; encoding: CsvEncoding } {
  let text: string;
  let encoding: CsvEncoding;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    encoding = 'utf-8-bom';
    text = strictDecode('utf-8', bytes.subarray(3));
  } else if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    encoding = 'utf-16le';
    text = strictDecode('utf-16le', bytes.subarray(2));
  } else if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    encoding = 'utf-16be';
    text = strictDecode('utf-16be', bytes.subarray(2));
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      encoding = 'utf-8';
    } catch {
      // Not UTF-8: a Chinese Excel saves CSV in the ANSI code page, i.e. GBK (GB18030 is its superset).
      encoding = 'gb18030';
      text = strictDecode('gb18030', bytes);
    }
  }
  // Text files have no NULs or other control characters besides tab and line ends.
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffd]/.exec(text);
  if (bad) throw notText(`it contains binary data (character code ${bad[0].charCodeAt(0)} near position ${bad.index})`);
  return { text, encoding };
}

function strictDecode(label: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder(label, { fatal: true }).decode(bytes);
  } catch {
    throw notText(`its bytes are neither valid UTF-8 nor GBK/GB18030${label.startsWith('utf-16') ? ' (it starts like UTF-16 but is not)' : ''}`);
  }
}

function notText(why: string) {
  return badRequest(`The file cannot be read as CSV text: ${why}. Save it from Excel as "CSV UTF-8 (逗号分隔)" or as an .xlsx workbook and upload again.`, [
    { path: 'file', message: 'not a readable CSV file' },
  ]);
}

/** The separator of the first record: the most frequent of `,` `;` tab outside quotes (default `,`). */
export function detectDelimiter(text: string): string {
  const counts = new Map<string, number>([[',', 0], [';', 0], ['\t', 0]]);
  let quoted = false;
  for (let i = 0; i < text.length && i < 64_000; i++) {
    const ch = text[i]!;
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
  }
  let best = ',';
  for (const [d, n] of counts) if (n > counts.get(best)!) best = d;
  return best;
}

/**
 * Parses CSV text into records of cells. A quoted cell may hold separators, `""` for a quote and
 * line breaks. Lines end in LF, CRLF or CR. `maxRecords` stops early (413 is the caller's call).
 */
export function parseCsv(text: string, delimiter = detectDelimiter(text), maxRecords = Infinity): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let quoted = false;
  let i = 0;
  const n = text.length;
  const endCell = () => {
    record.push(cell);
    cell = '';
  };
  const endRecord = () => {
    endCell();
    records.push(record);
    record = [];
  };
  while (i < n) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cell += ch;
      i++;
      continue;
    }
    if (ch === '"' && cell === '') {
      quoted = true;
      i++;
    } else if (ch === delimiter) {
      endCell();
      i++;
    } else if (ch === '\r' || ch === '\n') {
      endRecord();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      if (records.length > maxRecords) return records;
    } else {
      cell += ch;
      i++;
    }
  }
  if (quoted) {
    throw badRequest('The CSV file ends inside a quoted cell: a closing " is missing. Check the last rows of the file.', [{ path: 'file', message: 'unterminated quoted cell' }]);
  }
  if (cell !== '' || record.length) endRecord();
  return records;
}

const NEEDS_QUOTES = /[",;\t\r\n]/;

/** One CSV cell: quoted when it holds a separator, quote or line break. */
export function csvCell(v: string): string {
  return NEEDS_QUOTES.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}

export function csvLine(cells: string[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

export const UTF8_BOM = '\ufeff';
