"""The SwiftAI bot: chat/ (Discord), web/, service/, storage/, and the App they all share."""
