// Package e2e holds the process-level tests of the engine, the agent protocol and the agents: real HTTP,
// real agents (in-process, and as subprocesses that get killed), a server killed and restarted, two
// replicas on one PostgreSQL, real Blender renders; both store drivers. It has no code of its own.
package e2e
