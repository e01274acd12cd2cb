package blueprint

// function is what the checks know about one registered Kanister function.
type function struct {
	// required args, all of which must be present.
	required []string
	// oneOf lists groups of which exactly one arg must be present.
	oneOf [][]string
	// restic marks functions that encrypt with restic and silently fall back
	// to Kanister's built-in key (the same for every installation) when no
	// encryptionKey is given.
	restic bool
}

// functions are the functions registered in Kanister at HEAD with the
// required args of the contract's function table. Functions the table does
// not detail are listed with no required args, so only their name is
// checked.
var functions = map[string]function{
	"BackupData":                  {required: []string{"namespace", "pod", "container", "includePath", "backupArtifactPrefix"}, restic: true},
	"BackupDataAll":               {restic: true},
	"BackupDataStats":             {restic: true},
	"CheckRepository":             {restic: true},
	"CopyVolumeData":              {required: []string{"namespace", "volume", "dataArtifactPrefix"}, restic: true},
	"CreateCSISnapshot":           {required: []string{"pvc", "namespace", "snapshotClass"}},
	"CreateCSISnapshotStatic":     {required: []string{"name", "namespace", "driver", "handle", "snapshotClass"}},
	"CreateRDSSnapshot":           {},
	"DeleteCSISnapshot":           {required: []string{"name", "namespace"}},
	"DeleteCSISnapshotContent":    {required: []string{"name"}},
	"DeleteData":                  {required: []string{"namespace", "backupArtifactPrefix"}, oneOf: [][]string{{"backupID", "backupTag"}}, restic: true},
	"DeleteDataAll":               {restic: true},
	"DeleteRDSSnapshot":           {},
	"ExportRDSSnapshotToLocation": {},
	"KubeExec":                    {required: []string{"namespace", "pod", "command"}},
	"KubeExecAll":                 {required: []string{"namespace", "pods", "containers", "command"}},
	"KubeTask":                    {required: []string{"image", "command"}},
	"KubeOps":                     {required: []string{"operation"}},
	"LocationDelete":              {required: []string{"artifact"}},
	"MultiContainerRun":           {required: []string{"backgroundImage", "backgroundCommand", "outputImage", "outputCommand"}},
	"PrepareData":                 {required: []string{"namespace", "image", "command"}},
	"RestoreCSISnapshot":          {required: []string{"name", "pvc", "namespace", "storageClass", "restoreSize"}},
	"RestoreData":                 {required: []string{"namespace", "image", "backupArtifactPrefix"}, oneOf: [][]string{{"backupIdentifier", "backupTag"}, {"pod", "volumes"}}, restic: true},
	"RestoreDataAll":              {restic: true},
	"RestoreRDSSnapshot":          {},
	"ScaleWorkload":               {required: []string{"replicas"}},
	"Wait":                        {required: []string{"timeout", "conditions"}},
	"WaitV2":                      {required: []string{"timeout", "conditions"}},
}

// Known reports whether Kanister registers a function of that name.
func Known(name string) bool {
	_, ok := functions[name]
	return ok
}
