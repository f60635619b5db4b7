import ArgumentParser
import HandoffDataPlane

extension TransportSelection: ExpressibleByArgument {}
