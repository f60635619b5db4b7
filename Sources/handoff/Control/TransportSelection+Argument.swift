import ArgumentParser
import HandoffCore
import HandoffDataPlane
import HandoffUCX

extension TransportSelection: ExpressibleByArgument {}
