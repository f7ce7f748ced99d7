/**
 * Configuration files of the real node's components, as pure functions of its layout (NodeLayout).
 * Addresses: the node is 10.213.0.2 on a veth link (its peer also inside, going nowhere) in its own network namespace, pods get
 * 10.213.1.0/24 on the CNI bridge, Services 10.213.128.0/24; none of them exists outside that namespace.
 */
import { join } from 'node:path';

/** Every address of the node, its pods and Services. */
export const NODE_ADDRESSES = '10.213.0.0/16';
export const NODE_IP = '10.213.0.2';
export const POD_CIDR = '10.213.1.0/24';
export const SERVICE_CIDR = '10.213.128.0/24';
/** The first address of SERVICE_CIDR: the `kubernetes` Service. */
export const KUBERNETES_SERVICE_IP = '10.213.128.1';
/** Cluster DNS (the agent, see dns.ts) listens on the node IP. */
export const CLUSTER_DNS_IP = NODE_IP;
export const CLUSTER_DOMAIN = 'cluster.local';
export const PAUSE_IMAGE = 'localhost/herald/pause:3.10';
/** Every registry resolves here: a closed port on the namespace's loopback, so no pull ever leaves it. */
export const NO_REGISTRY = 'http://127.0.0.1:9';

export interface NodeLayout {
  runDir: string;
  nodeName: string;
  cgroupName: string;
  /** The apiserver's port: the same number inside the namespace (the agent's export) as on host loopback. */
  apiserverPort: number;
}

export const paths = (l: NodeLayout) => ({
  containerdConfig: join(l.runDir, 'containerd.toml'),
  containerdSocket: join(l.runDir, 'containerd.sock'),
  containerdRoot: join(l.runDir, 'containerd', 'root'),
  containerdState: join(l.runDir, 'containerd', 'state'),
  runcRoot: join(l.runDir, 'runc'),
  cniConfDir: join(l.runDir, 'cni', 'net.d'),
  cniDataDir: join(l.runDir, 'cni', 'ipam'),
  kubeletConfig: join(l.runDir, 'kubelet.yaml'),
  kubeletRoot: join(l.runDir, 'kubelet'),
  podLogs: join(l.runDir, 'pod-logs'),
  resolvConf: join(l.runDir, 'resolv.conf'),
  nodeKubeconfig: join(l.runDir, 'node.kubeconfig'),
  kubeProxyConfig: join(l.runDir, 'kube-proxy.yaml'),
  agentConfig: join(l.runDir, 'agent.json'),
  agentIn: join(l.runDir, 'in.sock'),
  apiserverOut: join(l.runDir, 'apiserver.sock'),
  dnsRecords: join(l.runDir, 'dns.json'),
  sysctlMasks: join(l.runDir, 'sysctl'),
});

export function containerdConfig(l: NodeLayout): string {
  const p = paths(l);
  return `version = 2
root = "${p.containerdRoot}"
state = "${p.containerdState}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${p.containerdSocket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "${join(l.runDir, 'containerd', 'opt')}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE here: never lower a container's oom_score_adj below ours.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  stream_server_address = "127.0.0.1"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/bin/runc"
        Root = "${p.runcRoot}"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${p.cniConfDir}"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
    endpoint = ["${NO_REGISTRY}"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."registry.k8s.io"]
    endpoint = ["${NO_REGISTRY}"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost"]
    endpoint = ["${NO_REGISTRY}"]
`;
}

export function cniConfig(l: NodeLayout): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'herald-node',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: paths(l).cniDataDir },
        },
      ],
    },
    null,
    2,
  );
}

export function kubeletConfig(l: NodeLayout): string {
  const p = paths(l);
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      // This machine: cgroup v1 hybrid, no systemd, swap not an issue.
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: `/${l.cgroupName}`,
      failSwapOn: false,
      containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
      imageServiceEndpoint: `unix://${p.containerdSocket}`,
      address: NODE_IP,
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: 10248,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: false } },
      authorization: { mode: 'AlwaysAllow' },
      clusterDNS: [CLUSTER_DNS_IP],
      clusterDomain: CLUSTER_DOMAIN,
      resolvConf: p.resolvConf,
      podLogsDir: p.podLogs,
      registerNode: true,
      // Images are imported, never pulled, never collected; nothing is evicted on a busy shared machine.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '0%', 'imagefs.available': '0%', 'nodefs.inodesFree': '0%' },
      localStorageCapacityIsolation: false,
      serializeImagePulls: false,
      maxPods: 110,
      protectKernelDefaults: false,
      shutdownGracePeriod: '0s',
      nodeStatusUpdateFrequency: '2s',
      syncFrequency: '10s',
      fileCheckFrequency: '0s',
      kernelMemcgNotification: false,
      logging: { format: 'text', verbosity: 1 },
    },
    null,
    2,
  );
}

export function kubeProxyConfig(l: NodeLayout): string {
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: paths(l).nodeKubeconfig },
      hostnameOverride: l.nodeName,
      mode: 'iptables',
      clusterCIDR: POD_CIDR,
      bindAddress: NODE_IP,
      healthzBindAddress: '127.0.0.1:10256',
      metricsBindAddress: '127.0.0.1:10249',
      // Pod → ClusterIP → pod on the same bridge: masquerade, so replies come back through the node
      // (no br_netfilter needed). No localhost NodePorts (route_localnet stays as it is).
      iptables: { masqueradeAll: true, localhostNodePorts: false, syncPeriod: '30s', minSyncPeriod: '0s' },
      // Leave every conntrack sysctl alone.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      nodePortAddresses: [`${NODE_IP}/32`],
      logging: { format: 'text', verbosity: 1 },
    },
    null,
    2,
  );
}

/** Sysctls the kubelet sets to these values at start (container_manager_linux.go setupKernelTunables). */
export const KUBELET_SYSCTLS: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};
