package recording

import "taskcenter/internal/facade"

// The answer codes of the long connection and the storage calls. The document names 30001 and 30008
// without a table; this is the table (docs/compat/recording.md).
const (
	CodeOK            = 0
	CodeBadParam      = 30001 // a field of the wrong type or out of its range
	CodeMissing       = 30002 // a required field is absent or empty
	CodeBadFrame      = 30003 // the frame is not one JSON object
	CodeUnknownCmd    = 30004 // the command id is not one of the document's (or an extension's)
	CodeNotLoggedIn   = 30005 // a command before a successful login (4097)
	CodeTooLong       = 30006 // a text field over its length
	CodeBadState      = 30007 // the recording is not in a state that allows the command
	CodeAuth          = 30008 // unknown app_id, or a token that is forged or not the app's
	CodeTokenExpired  = 30009 // the token's expiry has passed
	CodeNotFound      = 30010 // no such recording (or another app's), file or media
	CodeNoMedia       = 30011 // the layout names media the group does not have
	CodeQuotaFull     = 30012 // the app's storage quota is used up
	CodeFrameTooLarge = 30013 // a frame over MaxFrameBytes
	CodeRateLimited   = 30014 // more commands than the connection's rate allows
	CodeNoFunds       = 30015 // the account cannot pay for recording
	CodeInternal      = 30099 // an unexpected failure on the server (logged)
)

// codes is the table the facade kit maps errors with.
var codes = &facade.Codes{
	OK: CodeOK, Internal: CodeInternal,
	Invalid: CodeBadParam, NotFound: CodeNotFound, Exists: CodeBadState, Stale: CodeBadState,
	Missing: CodeMissing, BadParam: CodeBadParam, TooLong: CodeTooLong,
	Text: map[int]string{
		CodeOK:            "OK",
		CodeBadParam:      "invalid parameter",
		CodeMissing:       "missing parameter",
		CodeBadFrame:      "the frame is not a JSON object",
		CodeUnknownCmd:    "unknown command id",
		CodeNotLoggedIn:   "log in first (4097)",
		CodeTooLong:       "parameter too long",
		CodeBadState:      "the recording's state does not allow this command",
		CodeAuth:          "authentication failed",
		CodeTokenExpired:  "token expired",
		CodeNotFound:      "not found",
		CodeNoMedia:       "no such media in the group",
		CodeQuotaFull:     "storage quota used up",
		CodeFrameTooLarge: "frame too large",
		CodeRateLimited:   "too many commands",
		CodeNoFunds:       "insufficient funds",
		CodeInternal:      "internal error",
	},
}

func errf(code int, detail string, args ...any) *facade.Error {
	return codes.New(code, detail, args...)
}
