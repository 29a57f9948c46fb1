package pull

import "fmt"

// UsageError is a target or option the user must change. The CLI maps it,
// like every other error here, to exit code 2; it carries a hint for what to
// do instead.
type UsageError struct {
	Msg  string
	Hint string
}

func (e *UsageError) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return fmt.Sprintf("%s (%s)", e.Msg, e.Hint)
}
