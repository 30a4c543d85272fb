enum DevchainSample { static func create(at path: String, scale: Int) throws { fatalError("todo") } }
