package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/sbom"
)

func (a *app) newSBOMCmd() *cobra.Command {
	var pf pullFlags
	var outputs []string
	cmd := &cobra.Command{
		Use:   "sbom TARGET",
		Short: "Write the software bill of materials of an image, module, directory or SBOM",
		Long: `Pulls TARGET, catalogs its packages with syft and writes an SBOM.

Images are resolved to a digest first; the digest is what is cataloged and
recorded, and every package records the layer it came from. Go modules
(gomod:) list their whole module graph as "go list -m all" would, fetched
through GOPROXY with checksums verified against the checksum database.
What was fetched is kept in the cache, so a second run on the same digest or
module version fetches nothing.

Formats (-o FORMAT[=FILE], repeatable; the default is cyclonedx-json to stdout):
  cyclonedx-json   CycloneDX 1.6 JSON
  spdx-json        SPDX 2.3 JSON
  syft-json        syft's own JSON
  table            a human summary: name, version, type and layer`,
		Example: `  customs sbom gomod:github.com/tidwall/gjson@v1.6.5 -o table
  customs sbom 127.0.0.1:5000/app:1.0 -o cyclonedx-json=app.cdx.json -o spdx-json=app.spdx.json
  customs sbom oci:./layout:v1 --platform linux/arm64 -o table
  customs sbom docker-archive:app.tar.gz
  customs sbom sbom:app.spdx.json -o table`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			outs, err := parseOutputs(outputs, sbom.Formats, sbom.Formats[0])
			if err != nil {
				return err
			}
			target, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			defer a.tuneGC(target)()
			opts, err := pf.options(a, cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			art, err := pull.Fetch(ctx, target, opts)
			if err != nil {
				return err
			}
			defer art.Close()
			formats := make([]string, len(outs))
			for i, o := range outs {
				formats[i] = o.format
			}
			rendered, err := sbom.Render(ctx, art, formats, pf.sbomOptions(opts.Cache, opts.Logger, opts.Progress))
			if err != nil {
				return fmt.Errorf("making the SBOM of %s: %w", target, err)
			}
			return writeOutputs(a.stdout, outs, rendered)
		},
	}
	pf.register(cmd)
	pf.registerCI(cmd)
	cmd.Flags().StringArrayVarP(&outputs, "output", "o", nil, "output FORMAT[=FILE] (repeatable): cyclonedx-json, spdx-json, syft-json, table")
	return cmd
}
