// Package aitasks is the AI task center dialect: new-api's task lists (GET /api/task/self,
// GET /api/task/), the relay that creates those tasks (the Suno music routes /suno/... and the
// OpenAI-style video routes /v1/videos...), its users, API keys, upstream channels and prices, and
// the background polling of upstream providers.
//
// It owns the translation of that wire form and the relay's rules (channel choice, retries on
// another channel, auto-disable, notify_hook callbacks). It does not own money or the life of
// work: quota is the engine's billing (a charge keyed by the task, written in the transaction that
// creates the task; a refund keyed by the same task, written in the transaction of the guarded status
// change that ends it), and polling is engine work leased by in-process workers (one poll job per
// batch of tasks of one channel), planned by a leader-only maintenance service.
package aitasks
