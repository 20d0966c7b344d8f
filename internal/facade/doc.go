// Package facade is the kit every API dialect (render, RPA, the native API, and the dialects to come)
// is built from, so that a dialect is a thin translation of its wire form onto the engine and holds
// no plumbing of its own:
//
//   - Codes and Error: a dialect's table of answer codes, an error carrying one of them, and the one
//     mapping of store, blob and engine errors onto that table (Codes.Of).
//   - Envelope: the answer writer, parameterised by the dialect's field names (Layout).
//   - Params: the request's parameters from a JSON object, a form or multipart body or the query
//     string, with required / default / range / length checks.
//   - Page and Paginate: a page of a list.
//   - Cache: a bounded cache whose entries expire and can be dropped by account.
//   - Signed: the signed-request skeleton (time window, key lookup, constant-time compare, one-use
//     nonce), taking the dialect's canonical form and signature as functions.
//   - Doc: a typed JSON document over the store's records table.
//   - JSON and the StatusOf mapping: the plain HTTP-status dialect of the native API and the agent
//     protocol.
//
// Nothing here knows a dialect: names, codes and messages all come from the caller.
package facade
