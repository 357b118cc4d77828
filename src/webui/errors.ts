// The web UI's API errors: the status and one line, in the OpenAI error shape the /v1 routes use too, so a client
// reads every error of the server the same way.
export class WebUiError extends Error {
  constructor(readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 500 | 503, message: string, readonly param: string | null = null) {
    super(message);
  }

  body() {
    const type = this.status === 401 ? 'authentication_error' : this.status >= 500 ? 'server_error' : 'invalid_request_error';
    return { error: { message: this.message, type, param: this.param, code: null } };
  }
}
