package slurm

import (
	"reflect"
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	arr := func(done ...bool) PhaseState { return PhaseState{ShardDone: done} }
	merge := func(done bool) PhaseState { return PhaseState{Global: true, Done: done} }
	cases := []struct {
		name   string
		states []PhaseState
		want   []Submission
	}{
		{"fresh run: everything", []PhaseState{arr(false, false, false), merge(false), arr(false, false, false), merge(false)},
			[]Submission{{Phase: 0, Shards: []int{0, 1, 2}}, {Phase: 1, Global: true}, {Phase: 2, Shards: []int{0, 1, 2}}, {Phase: 3, Global: true}}},
		{"one shard cancelled: only it, then what follows", []PhaseState{arr(true, false, true), merge(false), arr(false, false, false), merge(false)},
			[]Submission{{Phase: 0, Shards: []int{1}}, {Phase: 1, Global: true}, {Phase: 2, Shards: []int{0, 1, 2}}, {Phase: 3, Global: true}}},
		{"second array half done", []PhaseState{arr(true, true), merge(true), arr(false, true), merge(false)},
			[]Submission{{Phase: 2, Shards: []int{0}}, {Phase: 3, Global: true}}},
		{"failed merge", []PhaseState{arr(true, true), merge(false), arr(false, false), merge(false)},
			[]Submission{{Phase: 1, Global: true}, {Phase: 2, Shards: []int{0, 1}}, {Phase: 3, Global: true}}},
		{"complete", []PhaseState{arr(true, true), merge(true)}, nil},
		{"no global step", []PhaseState{arr(true, false)}, []Submission{{Phase: 0, Shards: []int{1}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Choose(tc.states); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Choose:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSplitAndArraySpec(t *testing.T) {
	cases := []struct {
		shards []int
		max    int
		limit  int
		want   []string // offset:spec per chunk
	}{
		{[]int{0, 1, 2, 3}, 1001, 0, []string{"0:0-3"}},
		{[]int{0, 1, 2, 3}, 3, 2, []string{"0:0-2%2", "3:0%2"}},
		{[]int{1, 4, 5, 6, 9}, 4, 0, []string{"0:1", "4:0-2", "8:1"}},
		{[]int{7, 2}, 1001, 0, []string{"0:2,7"}},
	}
	for _, tc := range cases {
		var got []string
		for _, c := range Split(tc.shards, tc.max) {
			for _, ix := range c.Indexes {
				if ix >= tc.max {
					t.Errorf("task id %d not below MaxArraySize %d", ix, tc.max)
				}
			}
			got = append(got, strings.Join([]string{itoa(c.Offset), ArraySpec(c.Indexes, tc.limit)}, ":"))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%v, %d): got %v, want %v", tc.shards, tc.max, got, tc.want)
		}
	}
}

func itoa(i int) string { return ArraySpec([]int{i}, 0) }

func TestParse(t *testing.T) {
	cfg := ParseConfig("Configuration data as of 2026-12-04T17:00:00\nMaxArraySize            = 3\nMinJobAge = 600\n")
	if cfg["MaxArraySize"] != "3" || cfg["MinJobAge"] != "600" {
		t.Errorf("ParseConfig: %v", cfg)
	}
	jobs := ParseQueue("12|12_[1-2]|PENDING|Dependency\n13|13|PENDING|DependencyNeverSatisfied\n12|12_0|RUNNING|None\n")
	if len(jobs) != 3 || jobs[0].ArrayJob != "12" || jobs[2].State != "RUNNING" {
		t.Fatalf("ParseQueue: %+v", jobs)
	}
	if jobs[0].Stuck() || !jobs[1].Stuck() || jobs[2].Stuck() {
		t.Errorf("Stuck: %v %v %v", jobs[0].Stuck(), jobs[1].Stuck(), jobs[2].Stuck())
	}
}

func TestScript(t *testing.T) {
	s := Script([]string{"--array=0-2", "--output=/r/slurm/%A_%a.log"}, map[string]string{"A": "x y"}, []string{"/bin/caco", "slurm-task", "/run dir", "--phase", "0"})
	want := "#!/bin/bash\n#SBATCH --array=0-2\n#SBATCH --output=/r/slurm/%A_%a.log\nexport A='x y'\nexec /bin/caco slurm-task '/run dir' --phase 0\n"
	if s != want {
		t.Errorf("Script:\n%s\nwant:\n%s", s, want)
	}
	if q := Quote("it's"); q != `'it'\''s'` {
		t.Errorf("Quote: %s", q)
	}
}

func TestDead(t *testing.T) {
	order := []string{"10", "11", "12", "13"} // array 0, merge 0, array 1, merge 1
	cases := []struct {
		name  string
		queue string
		want  []string
	}{
		{"array running: nothing is dead", "10|10_1|RUNNING|None\n11|11|PENDING|Dependency\n12|12_[0-3]|PENDING|Dependency\n13|13|PENDING|Dependency", nil},
		{"array failed: the merge and all after it", "11|11|PENDING|DependencyNeverSatisfied\n12|12_[0-3]|PENDING|Dependency\n13|13|PENDING|Dependency", []string{"11", "12", "13"}},
		{"a stuck job of another run does not count", "99|99|PENDING|DependencyNeverSatisfied\n11|11|PENDING|Dependency", nil},
		{"second array failed", "13|13|PENDING|DependencyNeverSatisfied", []string{"13"}},
	}
	for _, tc := range cases {
		dead := Dead(ParseQueue(tc.queue), order)
		var got []string
		for _, id := range order {
			if dead[id] {
				got = append(got, id)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: dead %v, want %v", tc.name, got, tc.want)
		}
	}
}
