package projects

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // timeZone must be a real IANA zone on every host, with or without a zoneinfo package
	"unicode/utf8"

	"taskcenter/internal/blob"
	"taskcenter/internal/facade"
)

// Record kinds of the facade's documents (the records table).
const (
	kindTemplateProject = "projects.template-project" // key: xxxx-template
	kindProject         = "projects.project"          // key: yyyy-xxxx
	kindMember          = "projects.member"           // parent: the project; key: project \x1f user \x1f role
	kindPending         = "projects.pending"          // key: template instance id; a render queued and not started
	kindManifest        = "projects.manifest"         // key: template instance id; what the last publish left
	kindManifestVersion = "projects.manifest-version" // key: <instance>#<version>; the commit guard across replicas
)

// Engine kind and capability of a render.
const (
	KindRender       = "projects.render"
	capabilityRender = "inprocess:projects.render"
)

// templateSuffix ends every template project's name.
const templateSuffix = "-template"

var (
	// projectIDRe is createExtendedProject's id: a letter, then lowercase letters, digits and
	// hyphens, 2-32 characters in all.
	projectIDRe = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)
	// baseNameRe is the xxxx of xxxx-template: the same shape as a project id, so that the full
	// name yyyy-xxxx stays a plain path segment.
	baseNameRe = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
	// templateIDRe names a template within its template project (pixh2).
	templateIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	// kmsUserRe is x-kms-user: lowercase letters and digits.
	kmsUserRe = regexp.MustCompile(`^[a-z0-9]{1,64}$`)
)

// templateProject is a template project (documented extension: made and edited through the native
// API and `taskcenter admin projects`).
type templateProject struct {
	Name        string `json:"name"` // xxxx-template
	DisplayName string `json:"display_name"`
	// Roles are the roles its extended projects offer; admin is always among them, first.
	Roles []string `json:"roles"`
	// TemplateCenter switches trigger/template on for its projects' templates.
	TemplateCenter bool `json:"template_center"`
	// Webhook receives an event when a publish of one of its projects' templates completes.
	Webhook string `json:"webhook,omitempty"`
	// WebhookSecret, when set, signs each event: X-Taskcenter-Signature: sha256=<hex HMAC-SHA256 of
	// the body keyed with it>, so that the receiver can tell the events are this server's.
	WebhookSecret string `json:"webhook_secret,omitempty"`
	// MaxDeletes is the guard: a publish that would delete more outputs than this publishes
	// nothing. 0 means defaultMaxDeletes; -1 lets a publish delete any number.
	MaxDeletes int                    `json:"max_deletes,omitempty"`
	Templates  map[string]templateDef `json:"templates"`
}

// templateDef is a template: its files (path -> text/template source; a file whose name starts with
// "_" is a partial, not an output) and its configuration document.
type templateDef struct {
	Files  map[string]string `json:"files"`
	Config json.RawMessage   `json:"config,omitempty"`
}

// defaultMaxDeletes is the delete guard when a template project sets none (Hugo deploy's default).
const defaultMaxDeletes = 256

// Limits of a template.
const (
	maxTemplateFiles  = 10000
	maxTemplateBytes  = 32 << 20 // all the files and the configuration of one template project
	maxOutputBytes    = 16 << 20 // one rendered output
	maxRenderedBytes  = 256 << 20
	maxRoleChars      = 32
	maxRoles          = 64
	maxDisplayChars   = 64
	maxWebhookChars   = 2048
	maxIdentityChars  = 254
	maxUsersPerCall   = 1000
	maxFreeTextChars  = 65536 // appid and desc: "any length" within the body's bound
	maxBodyBytes      = 1 << 20
	maxNativeBodySize = 64 << 20
)

// check validates a template project as given by an admin and normalises its roles.
func (tp *templateProject) check() error {
	base, ok := strings.CutSuffix(tp.Name, templateSuffix)
	if !ok || !baseNameRe.MatchString(base) {
		return fmt.Errorf("name %q must be <name>-template, the name a lowercase letter then lowercase letters, digits and hyphens", tp.Name)
	}
	if n := utf8.RuneCountInString(tp.DisplayName); n > maxDisplayChars || !facade.ValidText(tp.DisplayName) {
		return fmt.Errorf("display_name must be text of at most %d characters", maxDisplayChars)
	}
	roles := []string{"admin"}
	seen := map[string]bool{"admin": true}
	for _, r := range tp.Roles {
		r = strings.TrimSpace(r)
		if r == "" || utf8.RuneCountInString(r) > maxRoleChars || strings.ContainsAny(r, ",\x1f") || !facade.ValidText(r) {
			return fmt.Errorf("role %q must be 1-%d characters without commas", r, maxRoleChars)
		}
		if !seen[r] {
			seen[r] = true
			roles = append(roles, r)
		}
	}
	if len(roles) > maxRoles {
		return fmt.Errorf("at most %d roles", maxRoles)
	}
	tp.Roles = roles
	if tp.Webhook != "" {
		if len(tp.Webhook) > maxWebhookChars || !(strings.HasPrefix(tp.Webhook, "http://") || strings.HasPrefix(tp.Webhook, "https://")) {
			return fmt.Errorf("webhook must be an http or https URL")
		}
	}
	if len(tp.WebhookSecret) > 256 || !facade.ValidText(tp.WebhookSecret) {
		return fmt.Errorf("webhook_secret must be text of at most 256 bytes")
	}
	if tp.MaxDeletes < -1 {
		return fmt.Errorf("max_deletes must be -1 (no guard), 0 (the default, %d) or more", defaultMaxDeletes)
	}
	if tp.Templates == nil {
		tp.Templates = map[string]templateDef{}
	}
	size := 0
	for id, t := range tp.Templates {
		if !templateIDRe.MatchString(id) {
			return fmt.Errorf("template id %q must be lowercase letters, digits, _ and -", id)
		}
		if err := t.check(); err != nil {
			return fmt.Errorf("template %s: %w", id, err)
		}
		size += len(t.Config)
		for p, src := range t.Files {
			size += len(p) + len(src)
		}
	}
	if size > maxTemplateBytes {
		return fmt.Errorf("templates hold %d bytes, more than %d", size, maxTemplateBytes)
	}
	return nil
}

func (t templateDef) check() error {
	if len(t.Files) == 0 {
		return fmt.Errorf("files are required")
	}
	if len(t.Files) > maxTemplateFiles {
		return fmt.Errorf("at most %d files", maxTemplateFiles)
	}
	for p, src := range t.Files {
		if !blob.ValidKey(p) || !facade.ValidText(p) {
			return fmt.Errorf("file name %q must be a relative path of plain segments", p)
		}
		if !facade.ValidText(src) {
			return fmt.Errorf("file %s is not valid UTF-8 text", p)
		}
	}
	if len(t.Config) > 0 {
		var v any
		if err := json.Unmarshal(t.Config, &v); err != nil {
			return fmt.Errorf("config is not JSON: %w", err)
		}
	}
	return nil
}

// project is an extended project, named yyyy-xxxx.
type project struct {
	ID       string `json:"id"`   // the full name, yyyy-xxxx
	Base     string `json:"base"` // yyyy
	From     string `json:"from"` // xxxx-template
	Name     string `json:"name"`
	AppID    string `json:"appid"`
	TimeZone string `json:"timeZone"`
	Desc     string `json:"desc"`
	// CreatedBy is the service user that created it.
	CreatedBy string `json:"created_by"`
}

// RecordScope and RecordName index a project by its template project and name.
func (p project) RecordScope() string { return p.From }
func (p project) RecordName() string  { return p.ID }

// member is one role of one user in a project: one record each, so that concurrent additions of
// roles never overwrite each other.
type member struct {
	User string `json:"user"`
	Role string `json:"role"`
}

func memberKey(project, user, role string) string {
	return project + "\x1f" + user + "\x1f" + role
}

// pending marks the render of a template instance that is queued and not started: a trigger that
// finds it joins that render.
type pending struct {
	JobID int64 `json:"job_id"`
}

// manifest is what the last successful publish of a template instance left at the target.
type manifest struct {
	Files       map[string]manifestFile `json:"files"`
	JobID       int64                   `json:"job_id"`
	PublishedAt time.Time               `json:"published_at"`
	// Version counts the publishes; each takes the unique mark <instance>#<version> as it commits.
	Version int64 `json:"version"`
}

type manifestFile struct {
	Hash string `json:"hash"` // lowercase hex SHA-256
	Size int    `json:"size"`
}

// instanceID names the instance of template tpl in an extended project: "<project>.<template>". A
// project name holds no dot, so the first dot splits it.
func instanceID(project, tpl string) string { return project + "." + tpl }

func splitInstance(id string) (project, tpl string, ok bool) {
	project, tpl, ok = strings.Cut(id, ".")
	return project, tpl, ok && project != "" && templateIDRe.MatchString(tpl)
}

// checkIdentity checks a full user identity in e-mail form (mc@kingsoft.com).
func checkIdentity(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > maxIdentityChars || !facade.ValidText(s) {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == ',' || r == 0x7f || r == '\x1f' {
			return false
		}
	}
	return true
}

// splitList splits a comma-separated list, trimming spaces and dropping empty entries and repeats.
func splitList(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part != "" && !seen[part] {
			seen[part] = true
			out = append(out, part)
		}
	}
	return out
}

// loadZone checks an IANA zone name.
func loadZone(name string) error {
	if name == "" || name == "Local" || strings.ContainsAny(name, "\x00") {
		return fmt.Errorf("timeZone %q is not an IANA time zone", name)
	}
	if _, err := time.LoadLocation(name); err != nil {
		return fmt.Errorf("timeZone %q is not an IANA time zone", name)
	}
	return nil
}
