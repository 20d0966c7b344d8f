// Package projects is the project service dialect (kms-service-api.txt): extended projects created
// from template projects, their users and roles, and the template center behind
// trigger/template/:id, which renders a project's templates as engine work and publishes only the
// outputs whose content changed.
//
// It owns the dialect's wire form (x-kms-user / x-kms-token service tokens, the {err, data, desc}
// answers with the document's HTTP statuses), its documents in the records table (template
// projects, extended projects, members, manifests of published outputs), the deterministic template
// renderer and the publish step (diff against the last manifest, upload, guarded delete, commit).
// The life of a render (queueing, leasing, retries, time limits, history as jobs) is the engine's:
// renders are units of an in-process capability. It writes jobs only through the engine and reads
// the store through Store (ports.go).
package projects
