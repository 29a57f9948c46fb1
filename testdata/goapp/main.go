// Command goapp is a test fixture: a small program that links old versions
// of real modules, so that its SBOM and vulnerability report are known.
package main

import (
	"fmt"

	"github.com/tidwall/gjson"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/html"
	"golang.org/x/text/language"
	"gopkg.in/yaml.v2"
)

func main() {
	var v map[string]string
	_ = yaml.Unmarshal([]byte("a: b"), &v)
	h, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	fmt.Println(gjson.Get(`{"a":1}`, "a"), language.English, html.EscapeString("<"), len(h), v)
}
