#!/usr/bin/env python3
"""A small CRI v1 client for integration/run.sh (no crictl on Debian).

    cri_client.py --sock PATH --gen DIR COMMAND [ARGS]
      version
      runp NAME HANDLER CGROUP_PARENT        -> pod sandbox id (host network)
      podstatus POD                          -> READY|NOTREADY handler
      stopp POD / rmp POD
      create POD NAME IMAGE CGROUP_PARENT CMD... -> container id
      start ID / stop ID TIMEOUT / rm ID
      status ID                              -> RUNNING|EXITED <exit code>
      exec ID TIMEOUT CMD...                 -> its stdout, stderr; exits with its exit code
      update ID MEMORY_BYTES                 -> UpdateContainerResources (memory limit)

CRI_USERNS=HOSTID:LENGTH makes the pod (and its containers) hostUsers: false: a user
namespace mapping 0..LENGTH-1 to HOSTID.. for uids and gids; CRI_MOUNT=HOSTPATH:CTRPATH adds
a volume to `create`, idmapped with the same mapping when CRI_USERNS is set.

The Python modules are generated from cri_min.proto into DIR at run time.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load(gen):
    os.makedirs(gen, exist_ok=True)
    if not os.path.exists(os.path.join(gen, "cri_min_pb2_grpc.py")):
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", "-I", HERE, "--python_out", gen,
             "--grpc_python_out", gen, os.path.join(HERE, "cri_min.proto")],
            check=True)
    sys.path.insert(0, gen)
    import cri_min_pb2
    import cri_min_pb2_grpc
    return cri_min_pb2, cri_min_pb2_grpc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("cmd")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    pb, pbg = load(a.gen)
    import grpc
    ch = grpc.insecure_channel("unix://" + a.sock)
    rt = pbg.RuntimeServiceStub(ch)
    t = a.timeout
    args = a.args

    userns = os.environ.get("CRI_USERNS")
    idmap = []
    if userns:
        host, length = (int(x) for x in userns.split(":"))
        idmap = [pb.IDMapping(host_id=host, container_id=0, length=length)]

    def ns_options():
        # a user namespace needs the pod's own network namespace (as hostUsers: false
        # excludes hostNetwork in Kubernetes): CNI must have a network (loopback is enough)
        ns = pb.NamespaceOption(network=pb.POD if idmap else pb.NODE, pid=pb.POD, ipc=pb.POD)
        if idmap:
            ns.userns_options.CopyFrom(pb.UserNamespace(mode=pb.POD, uids=idmap, gids=idmap))
        return ns

    def pod_config(name, cgroup_parent):
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=name + "-uid", namespace="bulkhead-it"),
            labels={"app": "bulkhead-it"},
            log_directory=os.environ.get("CRI_LOG_DIR", ""),
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns_options())))

    try:
        if a.cmd == "version":
            r = rt.Version(pb.VersionRequest(version="v1"), timeout=t)
            print(r.runtime_name, r.runtime_version, r.runtime_api_version)
        elif a.cmd == "runp":
            name, handler, cg = args
            r = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pod_config(name, cg), runtime_handler=handler), timeout=t)
            print(r.pod_sandbox_id)
        elif a.cmd == "podstatus":
            r = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=args[0]), timeout=t)
            print(pb.PodSandboxState.Name(r.status.state).replace("SANDBOX_", ""), r.status.runtime_handler)
        elif a.cmd == "stopp":
            rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=args[0]), timeout=t)
        elif a.cmd == "rmp":
            rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=args[0]), timeout=t)
        elif a.cmd == "create":
            pod, name, image, cg = args[:4]
            cfg = pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=image),
                command=args[4:], envs=[pb.KeyValue(key="BULKHEAD_IT", value="1")],
                log_path=name + ".log" if os.environ.get("CRI_LOG_DIR") else "")
            if idmap:
                cfg.linux.security_context.namespace_options.CopyFrom(ns_options())
            if os.environ.get("CRI_MOUNT"):
                hp, cp = os.environ["CRI_MOUNT"].split(":")
                cfg.mounts.append(pb.Mount(container_path=cp, host_path=hp, uid_mappings=idmap, gid_mappings=idmap))
            # The pod name is also the sandbox config's name (see runp).
            podname = pod.split(":", 1)
            r = rt.CreateContainer(pb.CreateContainerRequest(
                pod_sandbox_id=podname[0], config=cfg,
                sandbox_config=pod_config(podname[1] if len(podname) > 1 else "pod", cg)), timeout=t)
            print(r.container_id)
        elif a.cmd == "start":
            rt.StartContainer(pb.StartContainerRequest(container_id=args[0]), timeout=t)
        elif a.cmd == "stop":
            rt.StopContainer(pb.StopContainerRequest(container_id=args[0], timeout=int(args[1])), timeout=t)
        elif a.cmd == "rm":
            rt.RemoveContainer(pb.RemoveContainerRequest(container_id=args[0]), timeout=t)
        elif a.cmd == "status":
            r = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=args[0]), timeout=t)
            print(pb.ContainerState.Name(r.status.state).replace("CONTAINER_", ""), r.status.exit_code)
        elif a.cmd == "exec":
            r = rt.ExecSync(pb.ExecSyncRequest(container_id=args[0], timeout=int(args[1]), cmd=args[2:]), timeout=t)
            sys.stdout.write(r.stdout.decode(errors="replace"))
            sys.stderr.write(r.stderr.decode(errors="replace"))
            sys.exit(r.exit_code)
        elif a.cmd == "update":
            rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
                container_id=args[0], linux=pb.LinuxContainerResources(memory_limit_in_bytes=int(args[1]))), timeout=t)
        else:
            ap.error("unknown command " + a.cmd)
    except grpc.RpcError as e:
        print("%s: %s: %s" % (a.cmd, e.code().name, e.details()), file=sys.stderr)
        sys.exit(100)


if __name__ == "__main__":
    main()
