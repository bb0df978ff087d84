package config

import "fmt"

// Template is the commented v1alpha5 Simple config that `k3d config init`
// writes: every field k3d v5.9 knows, with the defaults set and the rest
// commented out, so that it creates a cluster as it is.
func Template(name, image string) []byte {
	return fmt.Appendf(nil, `# A k3d cluster config: k3d create cluster --config THIS_FILE
# Flags given with --config override what is here; list flags add to the lists.
# $VAR and ${VAR} are replaced from the environment before the file is read.
apiVersion: %s
kind: %s
metadata:
  name: %s          # a positional NAME on the command line overrides it
servers: 1
agents: 0
image: %s
# kubeAPI:                # where the Kubernetes API is published on the host
#   host: k3d.local       # the name written into the kubeconfig
#   hostIP: 127.0.0.1     # the address bound (default 127.0.0.1)
#   hostPort: "6550"      # default: a free port
# network: my-net         # an existing network is used and kept on delete
# subnet: 172.28.0.0/16   # or "auto"
# token: superSecret      # default: generated
# ports:
#   - port: 8080:80
#     nodeFilters: [loadbalancer]
# volumes:
#   - volume: /my/path:/some/path
#     nodeFilters: [all]
# files:                  # copied into nodes before they start
#   - source: manifests/app.yaml           # relative to this file
#     destination: k3s-manifests/app.yaml  # or an absolute path
#     nodeFilters: [server:*]
# env:
#   - envVar: HTTP_PROXY=http://proxy:3128
#     nodeFilters: [all]
options:
  k3d:
    wait: true
    timeout: "0s"            # bounds the whole create; 0s: no bound
    disableLoadbalancer: false
    disableRollback: false
    # loadbalancer:
    #   configOverrides:       # as --lb-config-override
    #     - settings.workerConnections=2048
    #     - settings.defaultProxyTimeout=900
  k3s:
    extraArgs: []
    #  - arg: --disable=traefik
    #    nodeFilters: [server:*]
    nodeLabels: []
    #  - label: tier=backend
    #    nodeFilters: [agent:*]
  kubeconfig:
    updateDefaultKubeconfig: true
    switchCurrentContext: true
  runtime:
    # name: docker           # this project's addition: docker, podman or containerd
    # serversMemory: 1g
    # agentsMemory: 512m
    # hostPidMode: false     # servers and agents in the host's PID namespace
    # gpuRequest: all        # or a count: the host's GPUs for servers and agents
    ulimits: []
    #  - name: nofile
    #    soft: 65536
    #    hard: 65536
    labels: []
    #  - label: team=platform
    #    nodeFilters: [all]
registries:
  use: []
  #  - k3d-myregistry.localhost:5111
  # create:
  #   name: myregistry.localhost
  #   hostPort: "5111"
  # config: |
  #   mirrors:
  #     docker.io:
  #       endpoint: [http://k3d-myregistry.localhost:5000]
# hostAliases:                     # /etc/hosts of every node, and CoreDNS for pods
#   - ip: 192.168.1.10
#     hostnames: [db.local, db]
# Not supported yet here (a file that sets them is refused):
# manifests, options.k3d.nodeHookActions.
`, APIVersion, KindSimple, name, image)
}
