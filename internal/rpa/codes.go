package rpa

import (
	"taskcenter/internal/facade"
)

// Response codes. The document's appendix with the codes is missing; this is the table taskcenter
// publishes (docs/compat/rpa.md). 4007 "Token 不合法" is the one code the document shows; the file
// download example hints at five-digit business codes (1000x "文件不存在"), which the table follows.
const (
	CodeOK = 0

	CodeAuthMissing      = 4001 // accesstoken, timestamp or signature header missing
	CodeTimestampInvalid = 4002 // timestamp not a number or outside ±5 minutes
	CodeSignatureInvalid = 4003 // signature does not match
	CodeReplay           = 4004 // the same timestamp and signature were seen before
	CodeTokenExpired     = 4005 // access token expired (refresh it)
	CodeRefreshInvalid   = 4006 // refresh token unknown, used or expired
	CodeTokenInvalid     = 4007 // access token unknown, revoked or its user deleted
	CodeLoginFailed      = 4008 // accessKey / secretKey do not match
	CodeForbidden        = 4009 // the caller's role or department does not allow this
	CodeJobTokenInvalid  = 4010 // job ticket does not match a running unit

	CodeParamMissing  = 10001 // a required parameter is absent or empty
	CodeParamInvalid  = 10002 // malformed body, wrong type, value out of range
	CodeParamTooLong  = 10003 // a value exceeds its maximum length
	CodeNotFound      = 10004 // no such object for this caller
	CodeExists        = 10005 // an object with that name or code exists
	CodeStateConflict = 10006 // the object's state does not allow the action
	CodeQueueFull     = 10007 // the queue holds queueMaxItems items
	CodeFileNotFound  = 10008 // 文件不存在
	CodeFileTooLarge  = 10009 // upload larger than the configured maximum
	CodePasswordWrong = 10010 // old password does not match

	CodeInternal = 50000 // unexpected server error; the log has the detail
)

// codes is the table: every answer code's text, and the codes store and engine errors map to.
var codes = &facade.Codes{
	OK: CodeOK, Internal: CodeInternal, Invalid: CodeParamInvalid, NotFound: CodeNotFound, Exists: CodeExists,
	Stale: CodeStateConflict, TooLarge: CodeFileTooLarge,
	Missing: CodeParamMissing, BadParam: CodeParamInvalid, TooLong: CodeParamTooLong,
	Prefixed: true,
	Text: map[int]string{
		CodeOK:               "操作成功",
		CodeAuthMissing:      "缺少认证参数",
		CodeTimestampInvalid: "时间戳无效或已过期",
		CodeSignatureInvalid: "签名错误",
		CodeReplay:           "重复请求",
		CodeTokenExpired:     "Token 已过期",
		CodeRefreshInvalid:   "刷新 Token 无效",
		CodeTokenInvalid:     "Token 不合法",
		CodeLoginFailed:      "用户名或密码错误",
		CodeForbidden:        "无权限",
		CodeJobTokenInvalid:  "任务凭证无效",
		CodeParamMissing:     "参数缺失",
		CodeParamInvalid:     "参数错误",
		CodeParamTooLong:     "参数过长",
		CodeNotFound:         "数据不存在",
		CodeExists:           "数据已存在",
		CodeStateConflict:    "当前状态不允许该操作",
		CodeQueueFull:        "队列已满",
		CodeFileNotFound:     "文件不存在",
		CodeFileTooLarge:     "文件过大",
		CodePasswordWrong:    "旧密码错误",
		CodeInternal:         "系统错误",
	},
}

// Error is a failure with its response code. Handlers return it; the envelope writer renders it.
type Error = facade.Error

// fail builds an Error whose message is the code's text, followed by detail when given.
func fail(code int, detail string, args ...any) *Error { return codes.New(code, detail, args...) }

// asError maps any error to a response code (facade.Codes.Of).
func asError(err error) *Error { return codes.Of(err) }

// Envelope is every JSON answer: {"code":0,"msg":"操作成功","result":...}.
type Envelope struct {
	Code   int    `json:"code"`
	Msg    string `json:"msg"`
	Result any    `json:"result,omitempty"`
}

// Page is a list result.
type Page[T any] = facade.Page[T]
