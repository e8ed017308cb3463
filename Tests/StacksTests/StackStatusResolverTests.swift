import Stacks
import Testing

@Suite("Stack status rules")
struct StackStatusResolverTests {
    func container(_ project: String, _ service: String, _ state: String, id: String = "", exitCode: Int = 0,
                   health: String? = nil, protected: Bool = false, oneOff: Bool = false) -> ComposeContainer {
        ComposeContainer(
            id: id.isEmpty ? "\(project)-\(service)-\(state)" : id, project: project, service: service,
            workingDirectory: "/stacks/\(project)", state: state, health: health, exitCode: exitCode,
            startedAt: nil, isOneOff: oneOff, isProtected: protected
        )
    }

    func entry(_ name: String, services: [String] = ["app"], protected: Bool = false, project: String? = nil) -> StackStatusResolver.Entry {
        StackStatusResolver.Entry(
            directory: StackDirectory(directoryName: name, path: "/stacks/\(name)", composeFile: "/stacks/\(name)/compose.yaml"),
            project: .success(ComposeProject(name: project ?? name, services: services, protectedServices: protected ? [services[0]] : []))
        )
    }

    let resolver = StackStatusResolver(protectedStacks: ["traefik"])

    @Test("every service running is running; some is partial; none is stopped; no containers is not_deployed")
    func statuses() {
        let stacks = resolver.resolve(
            entries: [entry("a", services: ["web", "worker"]), entry("b", services: ["web", "worker"]),
                      entry("c", services: ["web"]), entry("d")],
            containers: [
                container("a", "web", "running"), container("a", "worker", "running"),
                container("b", "web", "running"), container("b", "worker", "exited", exitCode: 3),
                container("c", "web", "exited", exitCode: 0),
            ]
        )
        #expect(stacks.map(\.status) == [.running, .partial, .stopped, .notDeployed])
        let worker = stacks[1].services.first { $0.name == "worker" }
        #expect(worker == ServiceInfo(name: "worker", state: "exited", health: nil, exitCode: 3, containers: 1))
        #expect(stacks[1].servicesRunning == 1 && stacks[1].servicesTotal == 2)
    }

    @Test("a declared service without a container keeps the stack from counting as running")
    func missingServiceIsPartial() {
        let stacks = resolver.resolve(entries: [entry("a", services: ["web", "worker"])], containers: [container("a", "web", "running")])
        #expect(stacks[0].status == .partial)
        #expect(stacks[0].services.map(\.state) == ["running", ServiceInfo.notCreated])
    }

    @Test("a restarting container does not count as running")
    func restartingIsNotRunning() {
        let stacks = resolver.resolve(entries: [entry("a")], containers: [container("a", "app", "restarting", exitCode: 1)])
        #expect(stacks[0].status == .stopped)
    }

    @Test("a running container counts as running whatever its health says: a restart cannot hurry a slow healthcheck")
    func healthDoesNotDecideRunning() {
        let stacks = resolver.resolve(entries: [entry("a", services: ["db", "app"])], containers: [
            container("a", "db", "running", health: "starting"),
            container("a", "app", "running", health: "unhealthy"),
        ])
        #expect(stacks[0].status == .running)
    }

    @Test("one-off containers from `compose run` are ignored")
    func oneOffIgnored() {
        let stacks = resolver.resolve(entries: [entry("a")], containers: [container("a", "app", "exited", oneOff: true)])
        #expect(stacks[0].status == .notDeployed)
    }

    @Test("projects docker knows but stacks_dir lacks are unmanaged, with compose's working directory")
    func unmanaged() {
        let stacks = resolver.resolve(entries: [entry("a")], containers: [container("other", "app", "running")])
        #expect(stacks.map(\.name) == ["a", "other"])
        #expect(stacks[1].status == .unmanaged)
        #expect(stacks[1].directory == "/stacks/other")
    }

    @Test("an invalid directory name is listed as invalid even when docker has a project of that name")
    func invalid() {
        let stacks = resolver.resolve(entries: [entry("Bad_Name")], containers: [])
        #expect(stacks[0].status == .invalid)
        #expect(stacks[0].problem != nil)
    }

    @Test("protection comes from the config list, the compose file label, or a container label")
    func protection() {
        let stacks = resolver.resolve(
            entries: [entry("traefik"), entry("labelled", protected: true), entry("deployed-label"), entry("plain")],
            containers: [container("deployed-label", "app", "running", protected: true)]
        )
        #expect(stacks.map(\.name) == ["deployed-label", "labelled", "plain", "traefik"])
        #expect(stacks.map(\.protected) == [true, true, false, true])
    }

    @Test("the worst health of a service's replicas is reported")
    func worstHealth() {
        let stacks = resolver.resolve(entries: [entry("a")], containers: [
            container("a", "app", "running", id: "1", health: "healthy"),
            container("a", "app", "running", id: "2", health: "unhealthy"),
        ])
        #expect(stacks[0].services == [ServiceInfo(name: "app", state: "running", health: "unhealthy", exitCode: nil, containers: 2)])
    }

    @Test("a stack goes by the project name compose resolves, and its containers are found under it")
    func projectName() {
        var deployed = container("immich", "app", "running")
        deployed.workingDirectory = "/stacks/immich-app"
        let stacks = resolver.resolve(entries: [entry("immich-app", project: "immich")], containers: [deployed])
        #expect(stacks.map(\.name) == ["immich"] && stacks[0].status == .running && stacks[0].directory == "/stacks/immich-app")
        #expect(StackStatusResolver.target(StackName("immich")!, entries: [entry("immich-app", project: "immich")], containers: [])
            == .managed(ManagedStack(name: StackName("immich")!, directory: "/stacks/immich-app", composeFile: "/stacks/immich-app/compose.yaml"),
                        project: .success(ComposeProject(name: "immich", services: ["app"], protectedServices: []))))
        #expect(StackStatusResolver.target(StackName("immich-app")!, entries: [entry("immich-app", project: "immich")], containers: []) == .none)
    }

    @Test("two directories that resolve to one project name are both reported, and neither is a target")
    func sameProjectName() {
        let entries = [entry("photos", project: "immich"), entry("immich")]
        let stacks = resolver.resolve(entries: entries, containers: [container("immich", "app", "running")])
        #expect(stacks.map(\.name) == ["immich", "photos"] && stacks.allSatisfy { $0.status == .invalid })
        #expect(stacks.allSatisfy { $0.problem?.contains("same project \"immich\"") == true })
        guard case .refused(let reason) = StackStatusResolver.target(StackName("immich")!, entries: entries, containers: []) else {
            Issue.record("a name two directories claim was a target")
            return
        }
        #expect(reason.contains("same project"))
    }

    @Test("a project whose containers were deployed from another directory is not taken over by a `name:` that collides with it")
    func deployedElsewhere() {
        var foreign = container("immich", "server", "running")
        foreign.workingDirectory = "/home/ops/immich"
        let entries = [entry("photos", services: ["server"], project: "immich")]
        let stacks = resolver.resolve(entries: entries, containers: [foreign])
        #expect(stacks.map(\.name) == ["photos"] && stacks[0].status == .invalid && stacks[0].problem?.contains("/home/ops/immich") == true, "\(stacks)")
        guard case .refused = StackStatusResolver.target(StackName("immich")!, entries: entries, containers: [foreign]) else {
            Issue.record("the colliding project was a target")
            return
        }
        var ours = container("immich", "server", "running")
        ours.workingDirectory = "/stacks//photos/"
        #expect(resolver.resolve(entries: entries, containers: [ours]).map(\.status) == [.running])
    }

    @Test("a resolved project name that is not a safe stack name makes the stack invalid")
    func unsafeProjectName() {
        let stacks = resolver.resolve(entries: [entry("shop", project: "Shop.Online")], containers: [])
        #expect(stacks[0].status == .invalid && stacks[0].name == "shop" && stacks[0].problem?.contains("Shop.Online") == true)
    }

    @Test("a stack compose cannot resolve is listed with compose's message and counts as protected")
    func unresolvable() {
        let broken = StackStatusResolver.Entry(
            directory: StackDirectory(directoryName: "broken", path: "/stacks/broken", composeFile: "/stacks/broken/compose.yaml"),
            project: .failure(ComposeFileError(path: "/stacks/broken", message: "required variable DB_PASSWORD is missing a value")))
        let stacks = resolver.resolve(entries: [broken, entry("shop")], containers: [container("broken", "app", "running")])
        #expect(stacks.map(\.name) == ["broken", "shop"])
        #expect(stacks[0].protected && stacks[0].status == .running && stacks[0].problem?.contains("DB_PASSWORD") == true)
        #expect(!stacks[1].protected && stacks[1].problem == nil)

        // A `name:` stack whose files broke after its deploy keeps its name: its containers say where they came from.
        let photos = StackStatusResolver.Entry(
            directory: StackDirectory(directoryName: "photos", path: "/stacks/photos", composeFile: "/stacks/photos/compose.yaml"),
            project: .failure(ComposeFileError(path: "/stacks/photos", message: "yaml: line 3: did not find expected key")))
        var deployed = container("immich", "server", "running")
        deployed.workingDirectory = "/stacks/photos"
        let named = resolver.resolve(entries: [photos], containers: [deployed])
        #expect(named.map(\.name) == ["immich"] && named[0].status == .running && named[0].protected)
    }
}
