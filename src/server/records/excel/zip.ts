// A look at a zip archive's central directory before anything is unpacked: is it a zip at all,
// is it an Excel workbook (and not a Word file or a renamed archive), and how large would it be
// unpacked (a small upload must not inflate into gigabytes in memory).

export interface ZipInfo {
  entries: string[];
  /** Sum of the declared uncompressed sizes. */
  uncompressed: number;
}

export type ZipProblem = { problem: 'not-zip' | 'damaged' | 'zip64'; detail: string };

const EOCD = 0x06054b50;
const CDH = 0x02014b50;

/** Reads the central directory; a problem instead when the bytes are not a readable zip. */
export function inspectZip(buf: Buffer): ZipInfo | ZipProblem {
  if (buf.length < 22) return { problem: 'not-zip', detail: 'it is too short to be a zip archive' };
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return { problem: 'not-zip', detail: 'it has no zip directory' };
  const count = buf.readUInt16LE(eocd + 10);
  const size = buf.readUInt32LE(eocd + 12);
  const offset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) return { problem: 'zip64', detail: 'it is a ZIP64 archive' };
  if (offset + size > eocd) return { problem: 'damaged', detail: 'its zip directory points outside the file' };
  const entries: string[] = [];
  let uncompressed = 0;
  let p = offset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CDH) return { problem: 'damaged', detail: 'its zip directory is damaged' };
    const usize = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    if (usize === 0xffffffff) return { problem: 'zip64', detail: 'it is a ZIP64 archive' };
    if (p + 46 + nameLen > buf.length) return { problem: 'damaged', detail: 'its zip directory is damaged' };
    entries.push(buf.toString('utf8', p + 46, p + 46 + nameLen));
    uncompressed += usize;
    p += 46 + nameLen + extraLen + commentLen;
  }
  return { entries, uncompressed };
}

/** What kind of Office/zip file the entries suggest, for a message a person understands. */
export function describeZip(entries: string[]): string {
  const has = (prefix: string) => entries.some((e) => e.startsWith(prefix));
  if (has('word/')) return 'a Word document (.docx)';
  if (has('ppt/')) return 'a PowerPoint file (.pptx)';
  if (entries.includes('mimetype') && has('content.xml')) return 'an OpenDocument file (.ods/.odt); save it as .xlsx';
  return 'a zip archive, not an Excel workbook';
}

export function isXlsx(entries: string[]): boolean {
  return entries.includes('[Content_Types].xml') && entries.some((e) => e.startsWith('xl/') && /workbook\d*\.xml$/.test(e));
}
