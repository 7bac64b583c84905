/** Who is asking, once established: the value ctx.user / ctx.groups are filled from. */
export interface Identity {
  readonly user: string;
  readonly groups: readonly string[];
  /** How it was established: a users file, LDAP, or the client's address. */
  readonly via: 'file' | 'ldap' | 'address';
}

/** A problem in a users or groups file, with its position (reported as file:line:col). */
export interface AuthFileProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** Thrown when a users or groups file cannot be loaded; carries every problem found. */
export class AuthFileError extends Error {
  constructor(readonly problems: readonly AuthFileProblem[]) {
    super(problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join('\n'));
    this.name = 'AuthFileError';
  }
}

/** The few logger methods auth uses (pino's Logger fits). */
export interface AuthLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
