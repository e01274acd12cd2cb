package blueprint

import (
	"strings"
	"testing"
)

const goodYAML = `
apiVersion: cr.kanister.io/v1alpha1
kind: Blueprint
metadata: {name: bp, namespace: kanister}
actions:
  backup:
    outputArtifacts:
      data:
        keyValue:
          backupID: "{{ .Phases.copy.Output.backupID }}"
          prefix: "{{ .Phases.copy.Output.backupRoot }}"
    phases:
    - func: CopyVolumeData
      name: copy
      args:
        namespace: "{{ .PVC.Namespace }}"
        volume: "{{ .PVC.Name }}"
        dataArtifactPrefix: ml/{{ .PVC.Name }}
        encryptionKey: '{{ index .Secrets.encryptionKey.Data "key" | toString }}'
  restore:
    phases:
    - func: RestoreData
      name: restoreData
      args:
        namespace: "{{ .PVC.Namespace }}"
        image: ghcr.io/kanisterio/kanister-tools:0.119.0
        backupArtifactPrefix: "{{ .ArtifactsIn.data.KeyValue.prefix }}"
        backupIdentifier: "{{ .ArtifactsIn.data.KeyValue.backupID }}"
        volumes: {"{{ .PVC.Name }}": /mnt/data}
        encryptionKey: '{{ index .Secrets.encryptionKey.Data "key" | toString }}'
  delete:
    phases:
    - func: DeleteData
      name: deleteData
      args:
        namespace: "{{ .Namespace.Name }}"
        backupArtifactPrefix: "{{ .ArtifactsIn.data.KeyValue.prefix }}"
        backupID: "{{ .ArtifactsIn.data.KeyValue.backupID }}"
        encryptionKey: '{{ index .Secrets.encryptionKey.Data "key" | toString }}'
`

func good(t *testing.T) *Blueprint {
	t.Helper()
	bp, err := Decode([]byte(goodYAML))
	if err != nil {
		t.Fatal(err)
	}
	return bp
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		opts   CheckOptions
		mutate func(bp *Blueprint)
		want   []string // substrings, one per expected problem; nil = passes
	}{
		{name: "good blueprint passes", mutate: func(*Blueprint) {}},
		{
			name:   "unknown function",
			mutate: func(bp *Blueprint) { bp.Actions["backup"].Phases[0].Func = "CopyVolumeDta" },
			want:   []string{`action backup, phase copy: unknown function "CopyVolumeDta"`},
		},
		{
			name: "missing required arg",
			mutate: func(bp *Blueprint) {
				delete(bp.Actions["backup"].Phases[0].Args, "volume")
			},
			want: []string{`CopyVolumeData needs arg "volume"`},
		},
		{
			name: "unsupported arg, as Kanister's CheckSupportedArgs refuses it",
			mutate: func(bp *Blueprint) {
				bp.Actions["backup"].Phases[0].Args["volumes"] = map[string]any{"x": "/mnt"}
			},
			want: []string{`action backup, phase copy: CopyVolumeData does not take arg "volumes": Kanister fails the phase ("argument volumes is not supported")`},
		},
		{
			name: "CreateCSISnapshotStatic takes snapshotHandle, not handle",
			mutate: func(bp *Blueprint) {
				a := bp.Actions["delete"]
				a.DeferPhase = &Phase{Func: "CreateCSISnapshotStatic", Name: "static", Args: map[string]any{
					"name": "s", "namespace": "ml", "driver": "d", "handle": "h", "snapshotClass": "c"}}
				bp.Actions["delete"] = a
			},
			want: []string{`CreateCSISnapshotStatic needs arg "snapshotHandle"`, `CreateCSISnapshotStatic does not take arg "handle"`},
		},
		{
			name: "one-of group: neither and both",
			mutate: func(bp *Blueprint) {
				args := bp.Actions["restore"].Phases[0].Args
				delete(args, "backupIdentifier")
				args["pod"] = "p"
			},
			want: []string{"exactly one of args backupIdentifier, backupTag", "exactly one of args pod, volumes"},
		},
		{
			name: "PrepareData that ignores its command's failure",
			mutate: func(bp *Blueprint) {
				a := bp.Actions["delete"]
				a.DeferPhase = &Phase{Func: "PrepareData", Name: "prep", Args: map[string]any{
					"namespace": "ml", "image": "i", "command": []any{"false"}, "failOnError": "true"}}
				bp.Actions["delete"] = a
			},
			want: []string{"action delete, phase prep: PrepareData without failOnError: true succeeds when its command fails"},
		},
		{
			name:   "default encryption key",
			mutate: func(bp *Blueprint) { delete(bp.Actions["delete"].Phases[0].Args, "encryptionKey") },
			want:   []string{"action delete, phase deleteData: DeleteData has no encryptionKey"},
		},
		{
			name: "duplicate phase name across actions and defer phase",
			mutate: func(bp *Blueprint) {
				a := bp.Actions["delete"]
				a.DeferPhase = &Phase{Func: "KubeOps", Name: "copy", Args: map[string]any{"operation": "delete"}}
				bp.Actions["delete"] = a
			},
			want: []string{"action delete, phase copy: phase name already used in action backup"},
		},
		{
			name: "output artifact refers to a missing phase",
			mutate: func(bp *Blueprint) {
				bp.Actions["backup"].OutputArtifacts["data"].KeyValue["backupID"] = "{{ .Phases.cpy.Output.backupID }}"
			},
			want: []string{"output artifact data reads .Phases.cpy"},
		},
		{
			name: "restore reads an artifact key backup does not produce",
			mutate: func(bp *Blueprint) {
				bp.Actions["restore"].Phases[0].Args["backupIdentifier"] = "{{ .ArtifactsIn.data.KeyValue.id }}"
			},
			want: []string{"action restore, phase restoreData: reads artifact data key id"},
		},
		{
			name: "delete reads an artifact backup does not produce",
			mutate: func(bp *Blueprint) {
				bp.Actions["delete"].Phases[0].Args["backupID"] = "{{ .ArtifactsIn.snap.KeyValue.backupID }}"
			},
			want: []string{"reads artifact snap, which action backup does not produce"},
		},
		{
			name: "kopia snapshot not set by backup",
			mutate: func(bp *Blueprint) {
				bp.Actions["restore"].Phases[0].Args["backupIdentifier"] = "{{ .ArtifactsIn.data.KopiaSnapshot }}"
			},
			want: []string{"reads artifact data.KopiaSnapshot"},
		},
		{
			name: "phase arg reads a later phase",
			mutate: func(bp *Blueprint) {
				bp.Actions["backup"].Phases[0].Args["volume"] = "{{ .Phases.later.Output.x }}"
			},
			want: []string{"args read .Phases.later, which is not an earlier phase"},
		},
		{
			name:   "missing delete action",
			mutate: func(bp *Blueprint) { delete(bp.Actions, "delete") },
			want:   []string{"action delete: missing"},
		},
		{
			name:   "custom action names pass",
			opts:   CheckOptions{BackupAction: "snap"},
			mutate: func(bp *Blueprint) { bp.Actions["snap"] = bp.Actions["backup"]; delete(bp.Actions, "backup") },
		},
		{
			name:   "custom backup action missing",
			opts:   CheckOptions{BackupAction: "snap"},
			mutate: func(*Blueprint) {},
			want:   []string{"action snap: missing"},
		},
		{
			name:   "no actions",
			mutate: func(bp *Blueprint) { bp.Actions = nil },
			want:   []string{"no actions"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bp := good(t)
			tc.mutate(bp)
			got := Check(bp, tc.opts)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems %q, want %d matching %q", len(got), got, len(tc.want), tc.want)
			}
			for _, w := range tc.want {
				found := false
				for _, p := range got {
					found = found || strings.Contains(p.String(), w)
				}
				if !found {
					t.Errorf("no problem mentions %q; got %q", w, got)
				}
			}
		})
	}
}

func TestDecode(t *testing.T) {
	if _, err := Decode([]byte("kind: Profile\n")); err == nil {
		t.Error("Decode accepted a Profile")
	}
	if _, err := Decode([]byte("actions: [1]\n")); err == nil {
		t.Error("Decode accepted actions as a list")
	}
	obj := map[string]any{"kind": "Blueprint", "actions": map[string]any{"backup": map[string]any{
		"phases": []any{map[string]any{"func": "KubeTask", "name": "t", "args": map[string]any{"image": "i", "command": []any{"sh"}, "n": int64(3)}}},
	}}}
	bp, err := FromUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	if got := bp.Actions["backup"].Phases[0].Func; got != "KubeTask" {
		t.Errorf("func = %q, want KubeTask", got)
	}
	if !Known("KubeTask") || Known("KubeTsk") {
		t.Error("Known disagrees with the function table")
	}
}

func TestNeedsProfile(t *testing.T) {
	kubeTask := func(cmd string) *Blueprint {
		return &Blueprint{Actions: map[string]Action{"backup": {Phases: []Phase{{Func: "KubeTask", Name: "k",
			Args: map[string]any{"image": "i", "command": []any{"sh", "-c", cmd}}}}}}}
	}
	for name, c := range map[string]struct {
		bp   *Blueprint
		want bool
	}{
		"restic functions":           {good(t), true},
		"a pod of its own":           {kubeTask("true"), false},
		"a pod that reads .Profile":  {kubeTask("echo {{ .Profile.Location.Bucket }}"), true},
		"a restic function in defer": {&Blueprint{Actions: map[string]Action{"delete": {DeferPhase: &Phase{Func: "DeleteData", Name: "d"}}}}, true},
	} {
		if got := NeedsProfile(c.bp); got != c.want {
			t.Errorf("%s: NeedsProfile = %v, want %v", name, got, c.want)
		}
	}
}
