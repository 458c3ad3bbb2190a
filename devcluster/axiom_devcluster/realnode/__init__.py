"""A real node joined to the local control plane: containerd v2, kubelet, a CNI bridge and
kube-proxy, on this machine (see ``notes/real-node.md`` of the project).

Modules: ``configs`` (pure: every configuration file and command line), ``network`` (the
bridge, its route, the firewall rules and sysctls, and putting them back), ``host`` (what the
host looks like, to prove a stop left nothing behind), ``preflight`` (can this machine run it,
and if not, why), ``node`` (start, stop), ``pytest_plugin`` (the ``realnode`` tier's fixtures).

Network rule: the node uses only 198.18.250.0/24 (pods, the bridge), 198.19.0.0/20 (Services,
routed over the bridge only) and loopback. Pods have no default route and a resolv.conf naming
127.0.0.1, so no pod can send a packet or a DNS query off the machine.
"""
