package blueprint

import (
	"fmt"
	"strings"
)

// function is what the checks know about one registered Kanister function.
type function struct {
	// required args, all of which must be present (Kanister's
	// RequiredArgs).
	required []string
	// optional args, accepted besides the required ones; any other arg
	// fails the phase (Kanister's Arguments, checked by
	// utils.CheckSupportedArgs in pkg/phase.go setPhaseArgs).
	optional []string
	// oneOf lists groups of which exactly one arg must be present (checked
	// by the function itself when it runs).
	oneOf [][]string
	// restic marks functions that encrypt with restic and silently fall back
	// to Kanister's built-in key (the same for every installation) when no
	// encryptionKey is given.
	restic bool
}

var podArgs = []string{"podOverride", "podAnnotations", "podLabels"}

func with(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// functions are the functions registered in Kanister at HEAD, with the
// required and accepted args each declares (pkg/function/*.go,
// RequiredArgs and Arguments).
var functions = map[string]function{
	"BackupData": {required: []string{"namespace", "pod", "container", "includePath", "backupArtifactPrefix"},
		optional: []string{"encryptionKey", "insecureTLS"}, restic: true},
	"BackupDataAll": {required: []string{"namespace", "container", "includePath", "backupArtifactPrefix"},
		optional: []string{"pods", "encryptionKey", "insecureTLS"}, restic: true},
	"BackupDataStats": {required: []string{"namespace", "backupArtifactPrefix", "backupID"},
		optional: with([]string{"image", "statsMode", "encryptionKey"}, podArgs), restic: true},
	"CheckRepository": {required: []string{"backupArtifactPrefix"},
		optional: with([]string{"image", "encryptionKey", "insecureTLS"}, podArgs), restic: true},
	"CopyVolumeData": {required: []string{"namespace", "volume", "dataArtifactPrefix"},
		optional: with([]string{"image", "encryptionKey", "mountPath", "insecureTLS"}, podArgs), restic: true},
	"CreateCSISnapshot":       {required: []string{"pvc", "namespace", "snapshotClass"}, optional: []string{"name", "labels"}},
	"CreateCSISnapshotStatic": {required: []string{"name", "namespace", "driver", "snapshotHandle", "snapshotClass"}},
	"CreateRDSSnapshot": {required: []string{"instanceID"},
		optional: []string{"dbEngine", "credentialsSource", "credentialsSecret", "region"}},
	"DeleteCSISnapshot":        {required: []string{"name", "namespace"}},
	"DeleteCSISnapshotContent": {required: []string{"name"}},
	"DeleteData": {required: []string{"namespace", "backupArtifactPrefix"},
		optional: with([]string{"image", "backupID", "backupTag", "encryptionKey", "reclaimSpace", "insecureTLS"}, podArgs),
		oneOf:    [][]string{{"backupID", "backupTag"}}, restic: true},
	"DeleteDataAll": {required: []string{"namespace", "backupArtifactPrefix", "backupInfo"},
		optional: with([]string{"image", "encryptionKey", "reclaimSpace", "insecureTLS"}, podArgs), restic: true},
	"DeleteRDSSnapshot": {required: []string{"snapshotID"},
		optional: []string{"dbEngine", "credentialsSource", "credentialsSecret", "region"}},
	"ExportRDSSnapshotToLocation": {required: []string{"namespace", "instanceID", "snapshotID", "dbEngine"},
		optional: []string{"username", "password", "backupArtifactPrefix", "databases", "securityGroupID", "dbSubnetGroup",
			"podAnnotations", "podLabels", "credentialsSource", "credentialsSecret", "region"}},
	"KubeExec":       {required: []string{"namespace", "pod", "command"}, optional: []string{"container"}},
	"KubeExecAll":    {required: []string{"namespace", "pods", "containers", "command"}},
	"KubeOps":        {required: []string{"operation"}, optional: []string{"spec", "namespace", "objectReference"}},
	"KubeTask":       {required: []string{"image", "command"}, optional: with([]string{"namespace"}, podArgs)},
	"LocationDelete": {required: []string{"artifact"}},
	"MultiContainerRun": {required: []string{"backgroundImage", "backgroundCommand", "outputImage", "outputCommand"},
		optional: with([]string{"namespace", "initImage", "initCommand", "sharedVolumeMedium", "sharedVolumeSizeLimit", "sharedVolumeDir"}, podArgs)},
	"PrepareData": {required: []string{"namespace", "image", "command"},
		optional: with([]string{"volumes", "serviceaccount", "failOnError"}, podArgs)},
	"RestoreCSISnapshot": {required: []string{"name", "pvc", "namespace", "storageClass", "restoreSize"},
		optional: []string{"accessModes", "volumeMode", "labels"}},
	"RestoreData": {required: []string{"namespace", "image", "backupArtifactPrefix"},
		optional: with([]string{"restorePath", "encryptionKey", "pod", "volumes", "backupTag", "backupIdentifier", "backupPath", "insecureTLS"}, podArgs),
		oneOf:    [][]string{{"backupIdentifier", "backupTag"}, {"pod", "volumes"}}, restic: true},
	"RestoreDataAll": {required: []string{"namespace", "image", "backupArtifactPrefix", "backupInfo"},
		optional: with([]string{"restorePath", "encryptionKey", "pods", "insecureTLS"}, podArgs), restic: true},
	"RestoreRDSSnapshot": {required: []string{"instanceID"},
		optional: []string{"snapshotID", "dbEngine", "backupArtifactPrefix", "backupID", "username", "password", "namespace",
			"securityGroupID", "dbSubnetGroup", "podAnnotations", "podLabels", "credentialsSource", "credentialsSecret", "region"}},
	"ScaleWorkload": {required: []string{"replicas"}, optional: []string{"namespace", "name", "kind", "waitForReady"}},
	"Wait":          {required: []string{"timeout", "conditions"}},
	"WaitV2":        {required: []string{"timeout", "conditions"}},
}

// Known reports whether Kanister registers a function of that name.
func Known(name string) bool {
	_, ok := functions[name]
	return ok
}

// supports reports whether f accepts arg.
func (f function) supports(arg string) bool {
	for _, list := range [][]string{f.required, f.optional} {
		for _, a := range list {
			if a == arg {
				return true
			}
		}
	}
	return false
}

// CheckArgs checks a phase's rendered args the way Kanister does when the
// phase runs (pkg/phase.go setPhaseArgs): every required arg present, then
// no arg the function does not take, with Kanister's messages. An unknown
// function is an error too. The test-only Kanister stand-in runs it.
func CheckArgs(fn string, args map[string]any) error {
	f, ok := functions[fn]
	if !ok {
		//lint:ignore ST1005 Kanister's own message (pkg/phase.go), which users see
		return fmt.Errorf("Requested function {%s} not found", fn)
	}
	for _, a := range f.required {
		if _, ok := args[a]; !ok {
			//lint:ignore ST1005 Kanister's own message (pkg/phase.go), which users see
			return fmt.Errorf("Required args missing for function %s: Required arg missing: %s", fn, a)
		}
	}
	for _, a := range sortedKeys(args) {
		if !f.supports(a) {
			//lint:ignore ST1005 Kanister's own message (pkg/phase.go), which users see
			return fmt.Errorf("Checking supported args for function %s.: argument %s is not supported", fn, a)
		}
	}
	return nil
}

// NeedsProfile reports whether any phase of bp needs a Kanister Profile:
// a function that moves data through the Profile's location (the restic
// ones), or args that read .Profile.
func NeedsProfile(bp *Blueprint) bool {
	for _, a := range bp.Actions {
		for _, ph := range phasesOf(a) {
			if functions[ph.Func].restic {
				return true
			}
			for _, s := range templateStrings(ph.Args) {
				if strings.Contains(s, ".Profile") {
					return true
				}
			}
		}
	}
	return false
}
