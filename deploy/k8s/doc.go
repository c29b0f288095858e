// Package k8s holds the static checks of the Helm chart in
// deploy/helm/replog: its tests render the chart with helm for several
// value sets, decode every object strictly with Kubernetes' own types, and
// hold the rendering to replog's failover configuration contract. It is a
// module of its own so that the binaries' modules never depend on
// Kubernetes' libraries.
package k8s
