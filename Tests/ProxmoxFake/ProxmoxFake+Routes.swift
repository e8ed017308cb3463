import Foundation
import Synchronization

/// The handler table, and the cluster-wide calls that belong to no node.
extension ProxmoxFake {
    /// Finds and runs the handler for one authenticated call.
    func route(_ request: APIRequest) async throws(ProxmoxError) -> Reply {
        if let path = request.match("nodes/{node}/{rest*}"), let other = path["node"], other != node {
            // Unsure: pveproxy's exact answer for a node name that is not in the cluster.
            throw .server("hostname lookup '\(other)' failed - failed to get address info for: \(other): Name or service not known")
        }
        if let reply = try clusterRoutes(request) { return reply }
        if let reply = try taskRoutes(request) { return reply }
        if let reply = try guestRoutes(request) { return reply }
        if let reply = try snapshotRoutes(request) { return reply }
        if let reply = try await storageRoutes(request) { return reply }
        if request.method == "POST", let path = request.match("nodes/{node}/lxc") {
            return try RestoreJob.start(self, request, path: path)
        }
        throw ProxmoxError(status: 501, message: "Method '\(request.method) \(request.path)' not implemented")
    }

    private func clusterRoutes(_ request: APIRequest) throws(ProxmoxError) -> Reply? {
        if request.method == "GET", request.match("version") != nil {
            return Reply(.object([("release", .string("8.3")), ("version", .string("8.3.0")), ("repoid", .string("c1689ccb1065a83b"))]))
        }
        guard request.method == "GET", request.match("cluster/nextid") != nil else { return nil }
        let params = try ParameterSchema(properties: ["vmid": .integer(minimum: 100)]).validate(request.params)
        let taken = state.withLock { state in
            Set(state.guests.keys).union(state.faults.compactMap { if case .vzdumpOnOtherNode(let id) = $0 { id } else { nil } })
        }
        // A string, although the schema says integer; nothing is reserved.
        if let wanted = params.int("vmid") {
            if taken.contains(wanted) { throw .parameter("vmid", "VM \(wanted) already exists") }
            return Reply(.string(String(wanted)))
        }
        var next = 100
        while taken.contains(next) { next += 1 }
        return Reply(.string(String(next)))
    }
}
