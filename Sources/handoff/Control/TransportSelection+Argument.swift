import HandoffCore
import HandoffUCX
import ArgumentParser
import HandoffDataPlane

extension TransportSelection: ExpressibleByArgument {}
