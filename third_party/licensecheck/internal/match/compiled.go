package match

// This file is an addition of customs' copy (see README.customs.md).

// Compiled is what a MultiLRE matches with: its dictionary's words in
// order, its DFA and the phrases a match may start with.
type Compiled struct {
	Words []string
	DFA   []int32
	Start [][2]int32
}

// Compiled returns re's state.
func (re *MultiLRE) Compiled() Compiled {
	c := Compiled{Words: re.dict.Words(), DFA: re.dfa}
	for p := range re.start {
		c.Start = append(c.Start, [2]int32{int32(p[0]), int32(p[1])})
	}
	return c
}

// FromCompiled returns the MultiLRE whose state is c.
func FromCompiled(c Compiled) *MultiLRE {
	d := &Dict{}
	for _, w := range c.Words {
		d.Insert(w)
	}
	start := make(map[phrase]struct{}, len(c.Start))
	for _, p := range c.Start {
		start[phrase{WordID(p[0]), WordID(p[1])}] = struct{}{}
	}
	return &MultiLRE{dict: d, dfa: c.DFA, start: start}
}
