package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Catalog is what the farm offers: render software with versions and plugins (querySupportedSoftware,
// querySupportedPlugin, render environments) and the analysis error codes (queryErrorDetail). It is
// kept as one record (kind "render.catalog", account 0) seeded from DefaultCatalog on first use, so an
// operator edits it without a release: `taskcenter admin settings set render-catalog FILE`.
type Catalog struct {
	IsAutoCommit int         `json:"isAutoCommit"`
	DefaultCgID  int         `json:"defaultCgId"`
	Software     []Software  `json:"software"`
	ErrorCodes   []ErrorCode `json:"errorCodes"`
}

// cgBlender is Blender's cgId: the software whose scenes the server analyses itself (analyseBlend)
// and the default of a new account and of the catalog.
const cgBlender = 2007

// Software is one render program.
type Software struct {
	CgID              int    `json:"cgId"`
	CgName            string `json:"cgName"`
	CgType            string `json:"cgType"` // scene file suffixes, ";"-separated
	IconPath          string `json:"iconPath"`
	IsNeedProjectPath int    `json:"isNeedProjectPath"`
	IsNeedAnalyse     int    `json:"isNeedAnalyse"`
	IsSupportLinux    int    `json:"isSupportLinux"`
	// Capability is the agent capability that renders it; a task for software no agent offers waits.
	Capability string        `json:"capability"`
	Versions   []SoftVersion `json:"versions"`
	Plugins    []Plugin      `json:"plugins"`
}

// SoftVersion is one version of a program; ID is unique over the catalog (cvId).
type SoftVersion struct {
	ID        int    `json:"id"`
	CgVersion string `json:"cgVersion"`
}

// Plugin is a plugin available for one program version.
type Plugin struct {
	CvID           int             `json:"cvId"`
	PluginName     string          `json:"pluginName"`
	PluginVersions []PluginVersion `json:"pluginVersions"`
}

// PluginVersion is one installable plugin version; PluginID is unique over the catalog.
type PluginVersion struct {
	PluginID      int    `json:"pluginId"`
	PluginName    string `json:"pluginName"`
	PluginVersion string `json:"pluginVersion"`
}

// Types of an analysis error code (ErrorCode.Type).
const (
	errorTypeWarning = 0 // may be ignored
	errorTypeError   = 1 // blocks submission
)

// ErrorCode is an analysis error or warning clients look up before submitting.
type ErrorCode struct {
	ID            int    `json:"id"`
	Code          string `json:"code"`
	Type          int    `json:"type"` // errorTypeWarning or errorTypeError
	DescriptionCN string `json:"descriptionCn"`
	SolutionCN    string `json:"solutionCn"`
	DescriptionEN string `json:"descriptionEn"`
	SolutionEN    string `json:"solutionEn"`
	SolutionPath  string `json:"solutionPath"`
	IsRepair      int    `json:"isRepair"`
	IsOpen        int    `json:"isOpen"`
}

// DefaultCatalog is the catalog a new server starts with. cg ids follow render-task-json.md.
func DefaultCatalog() Catalog {
	ver := func(id int, vs ...string) []SoftVersion {
		out := make([]SoftVersion, len(vs))
		for i, v := range vs {
			out[i] = SoftVersion{ID: id + i, CgVersion: v}
		}
		return out
	}
	plug := func(cvID, id int, name string, vs ...string) Plugin {
		p := Plugin{CvID: cvID, PluginName: name}
		for i, v := range vs {
			p.PluginVersions = append(p.PluginVersions, PluginVersion{PluginID: id + i, PluginName: name, PluginVersion: name + " " + v})
		}
		return p
	}
	return Catalog{
		IsAutoCommit: 2,
		DefaultCgID:  cgBlender,
		Software: []Software{
			{CgID: 2000, CgName: "Maya", CgType: "ma;mb", IconPath: "/img/softimage/maya.png", IsNeedProjectPath: 3, IsNeedAnalyse: 1, IsSupportLinux: 1, Capability: "maya",
				Versions: ver(1, "2018", "2019", "2020", "2022", "2023"),
				Plugins:  []Plugin{plug(3, 1166, "wobble", "0.9.5"), plug(3, 1170, "mtoa", "4.0.0", "4.2.1"), plug(3, 1180, "vrayformaya", "5.10.02")}},
			{CgID: 2001, CgName: "3ds Max", CgType: "max", IconPath: "/img/softimage/max.png", IsNeedProjectPath: 0, IsNeedAnalyse: 1, IsSupportLinux: 0, Capability: "3dsmax",
				Versions: ver(10, "2018", "2019", "2020", "2022"),
				Plugins:  []Plugin{plug(12, 1200, "vray", "4.30.01", "5.00.04"), plug(12, 1210, "corona", "6", "7")}},
			{CgID: 2003, CgName: "Arnold Standalone", CgType: "ass", IconPath: "/img/softimage/arnold.png", IsNeedAnalyse: 1, IsSupportLinux: 1, Capability: "kick",
				Versions: ver(20, "6.2.0", "7.1.0")},
			{CgID: 2004, CgName: "Houdini", CgType: "hip;hipnc", IconPath: "/img/softimage/houdini.png", IsNeedAnalyse: 1, IsSupportLinux: 1, Capability: "houdini",
				Versions: ver(25, "18.5", "19.0", "19.5"),
				Plugins:  []Plugin{plug(26, 1300, "redshift", "3.0.45", "3.5.10")}},
			{CgID: 2005, CgName: "CINEMA 4D", CgType: "c4d", IconPath: "/img/softimage/c4d.png", IsNeedAnalyse: 1, IsSupportLinux: 0, Capability: "c4d",
				Versions: ver(30, "R19", "R21", "R25", "2023"),
				Plugins:  []Plugin{plug(30, 1652, "zblur", "2.02.019"), plug(32, 1660, "octane", "2020.2", "2021.1")}},
			{CgID: cgBlender, CgName: "Blender", CgType: "blend", IconPath: "/img/softimage/blender.png", IsNeedAnalyse: 1, IsSupportLinux: 1, Capability: "blender",
				Versions: ver(40, "2.93", "3.4", "3.6", "4.0", "4.1", "4.2"),
				Plugins:  []Plugin{plug(41, 1700, "flip_fluids", "1.6.0")}},
			{CgID: 2008, CgName: "V-Ray Standalone", CgType: "vrscene", IconPath: "/img/softimage/vray.png", IsNeedAnalyse: 1, IsSupportLinux: 1, Capability: "vray",
				Versions: ver(50, "5.10", "6.00")},
			{CgID: 2013, CgName: "Clarisse", CgType: "project", IconPath: "/img/softimage/clarisse.png", IsNeedAnalyse: 1, IsSupportLinux: 1, Capability: "clarisse",
				Versions: ver(55, "4.0 SP9", "5.0 SP8")},
			{CgID: 2020, CgName: "Unreal Engine", CgType: "uproject", IconPath: "/img/softimage/unreal.png", IsNeedAnalyse: 0, IsSupportLinux: 0, Capability: "unreal",
				Versions: ver(60, "4.27", "5.1", "5.3")},
			{CgID: 2010, CgName: "KeyShot", CgType: "bip;ksp", IconPath: "/img/softimage/keyshot.png", IsNeedAnalyse: 1, IsSupportLinux: 0, Capability: "keyshot",
				Versions: ver(65, "10", "11", "2023")},
		},
		ErrorCodes: []ErrorCode{
			{ID: 1, Code: "10010", Type: 1, DescriptionCN: "场景文件不存在或未上传", SolutionCN: "请确认场景文件已上传, 且 upload.json 中的路径正确", DescriptionEN: "The scene file is missing or was not uploaded", SolutionEN: "Upload the scene file and check its path in upload.json", IsOpen: 1},
			{ID: 2, Code: "10011", Type: 1, DescriptionCN: "场景文件无法打开或已损坏", SolutionCN: "请用对应版本的软件打开场景并重新保存", DescriptionEN: "The scene file cannot be opened or is damaged", SolutionEN: "Open the scene in the matching software version and save it again", IsOpen: 1},
			{ID: 3, Code: "10020", Type: 1, DescriptionCN: "渲染软件或版本不受支持", SolutionCN: "请在 querySupportedSoftware 中选择支持的软件版本", DescriptionEN: "The render software or version is not supported", SolutionEN: "Choose a supported version from querySupportedSoftware", IsOpen: 1},
			{ID: 4, Code: "10030", Type: 1, DescriptionCN: "帧范围无效", SolutionCN: "帧范围格式为 start-end[step], 多段用逗号分隔", DescriptionEN: "The frame range is invalid", SolutionEN: "Write frame ranges as start-end[step], separated by commas", IsOpen: 1},
			{ID: 5, Code: "15000", Type: 1, DescriptionCN: "启动 3ds max 卡住或者失败", SolutionCN: "1.检查启用对应版本的 3ds max 是否有特殊弹窗,有的话手动关闭;\n2.检查操作系统是否设置了高级别的权限", DescriptionEN: "3ds Max hangs or fails on start", SolutionEN: "1. Close any dialog the matching 3ds Max version shows on start;\n2. Check the operating system's permission settings", IsOpen: 1},
			{ID: 6, Code: "15002", Type: 0, DescriptionCN: "场景中没有可渲染的相机", SolutionCN: "请在场景中设置渲染相机", DescriptionEN: "The scene has no renderable camera", SolutionEN: "Set a render camera in the scene", IsRepair: 1, IsOpen: 1},
			{ID: 7, Code: "25009", Type: 0, DescriptionCN: "输出路径为空, 将使用默认输出路径", SolutionCN: "可忽略, 或在场景中设置输出路径", DescriptionEN: "The output path is empty; the default output path is used", SolutionEN: "Ignore, or set an output path in the scene", IsRepair: 1, IsOpen: 1},
			{ID: 8, Code: "35001", Type: 0, DescriptionCN: "贴图丢失", SolutionCN: "请上传缺失的贴图, 或忽略该警告", DescriptionEN: "A texture map is missing", SolutionEN: "Upload the missing map, or ignore the warning", IsRepair: 1, IsOpen: 1},
			{ID: 9, Code: "35002", Type: 1, DescriptionCN: "缓存文件丢失", SolutionCN: "请上传场景引用的缓存文件", DescriptionEN: "A cache file is missing", SolutionEN: "Upload the cache files the scene references", IsOpen: 1},
			{ID: 10, Code: "40001", Type: 1, DescriptionCN: "插件版本不受支持", SolutionCN: "请在 querySupportedPlugin 中选择支持的插件版本", DescriptionEN: "A plugin version is not supported", SolutionEN: "Choose a supported plugin version from querySupportedPlugin", IsOpen: 1},
		},
	}
}

const (
	recCatalog  = "render.catalog"
	catalogKey  = "catalog"
	catalogAcct = 0 // the catalog belongs to no account
)

// catalog loads the catalog, seeding it on first use.
func (a *API) catalog(ctx context.Context) (Catalog, error) {
	now := a.eng.Now()
	if c, ok := a.cat.get(now); ok {
		return c, nil
	}
	r, err := a.st.GetRecordByKey(ctx, catalogAcct, recCatalog, catalogKey)
	if errors.Is(err, store.ErrNotFound) {
		c := DefaultCatalog()
		if _, err := a.st.PutRecord(ctx, store.Record{AccountID: catalogAcct, Kind: recCatalog, Key: catalogKey, Data: mustJSON(c)}, now); err != nil && !errors.Is(err, store.ErrConflict) {
			// The catalog still serves from memory; the operator sees why it could not be kept.
			a.log.Warn("seed render catalog", "err", err)
		}
		return c, nil
	}
	if err != nil {
		return Catalog{}, fmt.Errorf("load render catalog: %w", err)
	}
	var c Catalog
	if err := json.Unmarshal(r.Data, &c); err != nil {
		return Catalog{}, fmt.Errorf("decode render catalog: %w", err)
	}
	a.cat.set(c, now)
	return c, nil
}

// SettingName names the catalog among the native API's settings (server.Setting).
func (a *API) SettingName() string { return "render-catalog" }

// GetSetting answers the catalog as stored.
func (a *API) GetSetting(ctx context.Context) (json.RawMessage, error) {
	c, err := a.catalog(ctx)
	if err != nil {
		return nil, err
	}
	return mustJSON(c), nil
}

// PutSetting replaces the catalog with an admin's edit, once it decodes strictly and holds together.
func (a *API) PutSetting(ctx context.Context, doc json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("%w: render catalog: %v", engine.ErrInvalid, err)
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: render catalog: %v", engine.ErrInvalid, err)
	}
	if err := SetCatalog(ctx, a.st, c); err != nil {
		return err
	}
	a.cat.drop()
	return nil
}

// validate checks what the facade relies on: software ids and capabilities, version and plugin ids
// unique over the catalog, plugins hanging off a version of their program, error codes named and typed.
func (c Catalog) validate() error {
	if len(c.Software) == 0 {
		return errors.New("no software")
	}
	cgIDs, cvIDs, pluginIDs, codes := map[int]bool{}, map[int]bool{}, map[int]bool{}, map[string]bool{}
	for _, s := range c.Software {
		switch {
		case s.CgID <= 0 || cgIDs[s.CgID]:
			return fmt.Errorf("software %q: cgId %d is not a positive id of its own", s.CgName, s.CgID)
		case strings.TrimSpace(s.CgName) == "":
			return fmt.Errorf("software %d: cgName is empty", s.CgID)
		case strings.TrimSpace(s.Capability) == "":
			return fmt.Errorf("software %d: capability is empty (the agent capability that renders it)", s.CgID)
		}
		cgIDs[s.CgID] = true
		own := map[int]bool{}
		for _, v := range s.Versions {
			if v.ID <= 0 || cvIDs[v.ID] || strings.TrimSpace(v.CgVersion) == "" {
				return fmt.Errorf("software %d: version %d %q needs a unique positive id and a name", s.CgID, v.ID, v.CgVersion)
			}
			cvIDs[v.ID], own[v.ID] = true, true
		}
		for _, p := range s.Plugins {
			if !own[p.CvID] {
				return fmt.Errorf("software %d: plugin %q is for version id %d, not one of this program's", s.CgID, p.PluginName, p.CvID)
			}
			for _, pv := range p.PluginVersions {
				if pv.PluginID <= 0 || pluginIDs[pv.PluginID] {
					return fmt.Errorf("software %d: plugin %q version %q needs a unique positive pluginId", s.CgID, p.PluginName, pv.PluginVersion)
				}
				pluginIDs[pv.PluginID] = true
			}
		}
	}
	if c.DefaultCgID != 0 && !cgIDs[c.DefaultCgID] {
		return fmt.Errorf("defaultCgId %d is not in the catalog", c.DefaultCgID)
	}
	for _, e := range c.ErrorCodes {
		if strings.TrimSpace(e.Code) == "" || codes[e.Code] || (e.Type != errorTypeWarning && e.Type != errorTypeError) {
			return fmt.Errorf("error code %q: needs a unique code and type 0 (warning) or 1 (error)", e.Code)
		}
		codes[e.Code] = true
	}
	return nil
}

// SetCatalog replaces the stored catalog; PutSetting is the checked way in.
func SetCatalog(ctx context.Context, st facade.Records, c Catalog) error {
	r, err := st.GetRecordByKey(ctx, catalogAcct, recCatalog, catalogKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load render catalog: %w", err)
	}
	r.AccountID, r.Kind, r.Key, r.Data = catalogAcct, recCatalog, catalogKey, mustJSON(c)
	if _, err := st.PutRecord(ctx, r, timeNow()); err != nil {
		return fmt.Errorf("save render catalog: %w", err)
	}
	return nil
}

func (c Catalog) software(cgID int) (Software, bool) {
	for _, s := range c.Software {
		if s.CgID == cgID {
			return s, true
		}
	}
	return Software{}, false
}

// softwareByName finds a program by its name in task.json's software_config.cg_name.
func (c Catalog) softwareByName(name string) (Software, bool) {
	n := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	for _, s := range c.Software {
		if strings.ToLower(strings.ReplaceAll(s.CgName, " ", "")) == n {
			return s, true
		}
	}
	return Software{}, false
}

func (c Catalog) errorCode(code string) (ErrorCode, bool) {
	for _, e := range c.ErrorCodes {
		if e.Code == code {
			return e, true
		}
	}
	return ErrorCode{}, false
}

func (a *API) querySupportedSoftware(ctx context.Context, c *call) (any, error) {
	cat, err := a.catalog(ctx)
	if err != nil {
		return nil, err
	}
	list := make([]map[string]any, 0, len(cat.Software))
	for _, s := range cat.Software {
		list = append(list, map[string]any{
			"cgId": s.CgID, "cgName": s.CgName, "cgType": s.CgType, "iconPath": s.IconPath,
			"isNeedProjectPath": s.IsNeedProjectPath, "isNeedAnalyse": s.IsNeedAnalyse, "isSupportLinux": s.IsSupportLinux,
		})
	}
	return map[string]any{"isAutoCommit": cat.IsAutoCommit, "renderInfoList": list, "defaultCgId": cat.DefaultCgID}, nil
}

func (a *API) querySupportedPlugin(ctx context.Context, c *call) (any, error) {
	cgID, err := c.p.int("cgId", true, 0)
	if err != nil {
		return nil, err
	}
	// osName narrows nothing here: every catalog entry names the systems it runs on through
	// isSupportLinux, and a Windows client asking for Linux-capable plugins gets the same.
	if _, err := osName(c.p); err != nil {
		return nil, err
	}
	cat, err := a.catalog(ctx)
	if err != nil {
		return nil, err
	}
	s, ok := cat.software(int(cgID))
	if !ok {
		return nil, notFound("render software cgId", cgID)
	}
	plugins := make([]Plugin, 0, len(s.Plugins))
	plugins = append(plugins, s.Plugins...)
	versions := make([]map[string]any, 0, len(s.Versions))
	for _, v := range s.Versions {
		versions = append(versions, map[string]any{"id": v.ID, "cgId": s.CgID, "cgName": s.CgName, "cgVersion": v.CgVersion})
	}
	return map[string]any{"cgPlugin": plugins, "cgVersion": versions}, nil
}

func (a *API) queryErrorDetail(ctx context.Context, c *call) (any, error) {
	code, err := c.p.str("code", true)
	if err != nil {
		return nil, err
	}
	lang, err := c.p.int("language", false, 0)
	if err != nil {
		return nil, err
	}
	if lang != 0 && lang != 1 {
		return nil, invalid("language must be 0 (Chinese) or 1 (English)")
	}
	cat, err := a.catalog(ctx)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	if e, ok := cat.errorCode(strings.TrimSpace(code)); ok {
		desc, sol := e.DescriptionCN, e.SolutionCN
		if lang == 1 {
			desc, sol = e.DescriptionEN, e.SolutionEN
		}
		// The field names keep the document's "Cn" even for English text: clients read these names.
		out = append(out, map[string]any{
			"id": e.ID, "code": e.Code, "type": e.Type, "languageFlag": lang, "desDescriptionCn": desc,
			"desSolutionCn": sol, "solutionPath": e.SolutionPath, "isRepair": e.IsRepair, "isOpen": e.IsOpen,
			"isDelete": 1, "updateTime": nil,
		})
	}
	return out, nil
}

func (a *API) queryPlatforms(ctx context.Context, c *call) (any, error) {
	zone, err := c.p.int("zone", true, 0)
	if err != nil {
		return nil, err
	}
	if zone != zoneDomestic && zone != zoneAbroad {
		return nil, invalid("zone must be 1 (domestic) or 2 (abroad)")
	}
	// One server is one platform; the number is the accounts' platform setting.
	s, err := settingsOf(c.account)
	if err != nil {
		return nil, err
	}
	return []map[string]any{{"platform": s.Platform, "name": fmt.Sprintf("taskcenter-%d", s.Platform)}}, nil
}

// osName reads querySupportedPlugin's osName: the document's integer (0 Linux, 1 Windows), as a
// number or a numeric string, or the vendor SDK's name ("linux", "windows", any case).
func osName(p params) (int64, error) {
	if s, ok := p["osName"].(string); ok {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "linux":
			return 0, nil
		case "windows":
			return 1, nil
		}
	}
	n, err := p.int("osName", false, 0)
	if err != nil || (n != 0 && n != 1) {
		return 0, invalid("osName must be 0 or \"linux\", 1 or \"windows\"")
	}
	return n, nil
}
