/** Failure kinds of commands; the bot maps each to a Spanish message. */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
export class InvalidCommandParams extends CommandError {}
export class ActionNotFound extends CommandError {}
export class NotUndoable extends CommandError {}
export class UndoWindowClosed extends CommandError {}
export class CommandKeyConflict extends CommandError {}
