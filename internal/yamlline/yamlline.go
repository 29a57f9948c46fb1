// Package yamlline finds where the entries of a YAML document's top-level
// lists start, so that messages about them can name the line.
package yamlline

import "go.yaml.in/yaml/v3"

// Items returns the line of each item of the sequence under key in the
// top-level mapping of the document b; nil when there is none.
func Items(b []byte, key string) []int {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != key {
			continue
		}
		var lines []int
		for _, item := range top.Content[i+1].Content {
			lines = append(lines, item.Line)
		}
		return lines
	}
	return nil
}
