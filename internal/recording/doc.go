// Package recording is the cloud recording dialect (docs/compat/recording.md): the long connection
// (a WebSocket at PathWS whose text frames are the document's JSON commands), apps and their signed
// expiring tokens, each group's registry of users and media, auto layouts, and the storage calls.
//
// A recording is an engine job of kind "recording" with two units of capability unitspec.CapRecorder:
// the capture (index 0), held until recording starts and then leased to a recorder agent, whose spec
// (unitspec.Recording) changes live with each layout, subtitle, pause and stop; and the finalize
// (index 1), held until the capture ends and then released with the captured segments. The facade
// keeps its own view of the recording (recordDoc) as the job's Spec document and writes it together
// with the units' specs (engine.Change). It writes no money: recorded minutes are charged through
// engine.ChargeOnce. It must not touch the store's jobs or units other than through the engine.
package recording
