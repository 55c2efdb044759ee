/** The export format (../../api/export-format.ts) as the CLI uses it: a bad line is the user's error. */
import { ExportLineError, parseLine as parseExportLine, type ImportRecord } from "../../api/export-format.ts";
import { UserError } from "../errors.ts";

export { entryLine, namespaceLine, workersName } from "../../api/export-format.ts";

/** One line of an export file as a record; `where` (e.g. `dump.ndjson:12`) names it in errors. */
export function parseLine(line: string, where: string): ImportRecord {
  try {
    return parseExportLine(line, where);
  } catch (e) {
    throw e instanceof ExportLineError ? new UserError(e.message) : e;
  }
}
