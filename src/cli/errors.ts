/**
 * CLI error kinds, as wrangler has them: a UserError is printed as `✘ [ERROR]` and exits 1; a
 * CommandLineArgsError also prints the command's help on stdout; a RemoteApiError is a server's
 * `{success: false, errors: [{code, message}]}` answer, printed with the request path and the codes.
 */
export class UserError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UserError";
  }
}

export class CommandLineArgsError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "CommandLineArgsError";
  }
}

export interface ApiErrorItem {
  readonly code: number;
  readonly message: string;
}

export class RemoteApiError extends UserError {
  readonly status: number;
  readonly errors: readonly ApiErrorItem[];
  readonly path: string;

  constructor(server: string, path: string, status: number, errors: readonly ApiErrorItem[]) {
    const notes = errors.length > 0 ? errors.map((e) => `${e.message} [code: ${e.code}]`) : [`HTTP ${status}`];
    super([`A request to the OpenKV server at ${server} (${path}) failed.`, ...notes].join("\n"));
    this.name = "RemoteApiError";
    this.status = status;
    this.errors = errors;
    this.path = path;
  }

  hasCode(code: number): boolean {
    return this.errors.some((e) => e.code === code);
  }
}
