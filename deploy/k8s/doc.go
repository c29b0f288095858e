// Package k8s holds the static checks of the Helm chart in
// deploy/helm/replog: its tests render the chart with helm for several
// value sets, decode every object strictly with Kubernetes' own types, and
// hold the rendering to replog's failover configuration contract.
//
// It is a module of its own, outside go.work (run it with GOWORK=off, as
// make helm-check does): the binaries' modules never depend on
// Kubernetes' libraries, and in the workspace Kubernetes' dependency
// graph would pick versions for the binaries' builds (k8s.io/apimachinery
// v0.37 raises go-openapi/jsonpointer past theirs) and the images' build,
// which copies go.work, would need this module too.
package k8s
