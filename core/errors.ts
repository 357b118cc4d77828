/** An error whose message is fit to show a user as one line (the CLI prints it without a stack trace). */
export class UserError extends Error {}
