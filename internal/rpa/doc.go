// Package rpa is taskcenter's RPA orchestrator facade: the "OAPI" dialect of rpa-oapi.txt (users,
// roles, departments, robots, studios, processes and versions, schedules, jobs, assets, work queues
// and items, shared files), served under /oapi/v1 with the document's access-token + HMAC signing,
// its {"code","msg","result"} envelope and its field names, misspellings included.
//
// It owns the translation only: RPA jobs are engine jobs of kind "rpa.job" with one unit (capability
// "rpa") that a robot agent leases; work queues are open engine jobs of kind "rpa.queue" whose units
// are the items; schedules are engine schedules; robots and studios are the store's workers of kind
// "robot" and "studio". Low-volume RPA objects (users, departments, assets, processes, file metadata,
// licences) are store Records of kinds "rpa.*". Packages and shared files are blobs. The package
// must not reach into another dialect's records, and holds no business rule the engine owns (leasing
// order, retries, timeouts, job status).
//
// docs/compat/rpa.md is the integrator's reference: every endpoint, the rulings where the document is
// silent or garbled, the extensions, and the response code table.
package rpa
