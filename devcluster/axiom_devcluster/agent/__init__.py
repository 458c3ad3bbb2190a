"""Node agent: a kubelet stand-in that runs runtime pods as local processes on loopback.

Why it exists: kwok marks pods Running but runs nothing in them, and this machine has no
Docker. To test canary analysis, the traffic split and rollbacks against real traffic, the
pods of the runtime image must really serve. The agent registers Node(s), runs each pod
container's command as a process of this package on the pod's own 127.x address, probes it,
reports status like a kubelet, and forwards Service ClusterIPs (also loopback) to ready pods
like kube-proxy. It is dev/test tooling: the operator and the runtime never import it.

Layout: pure parts (``placement``, ``ipam``, ``backoff``, ``podspec``, ``projection``,
``probes``, ``status``, ``endpoints``) and I/O parts (``atomic_writer``, ``supervisor``,
``podworker``, ``node``, ``proxy``, ``agent``, ``process``).
"""
