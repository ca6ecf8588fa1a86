// CoP Bot on Azure: one resource group holding
//   - a user-assigned managed identity: the bot's Microsoft app id (no client secret anywhere; the bot signs in with
//     it through the Microsoft 365 Agents SDK, AUTHTYPE UserManagedIdentity) and its identity for Azure Tables and
//     the container registry;
//   - a Storage account used only through Microsoft Entra ID (shared keys disabled) for Azure Tables;
//   - a container registry the Web App pulls from with the same identity;
//   - a Linux App Service plan + Web App for Containers running deployment/Dockerfile;
//   - an Azure Bot (msaAppType UserAssignedMSI) with the Microsoft Teams channel.
//
// Why App Service rather than Container Apps: the bot runs its scheduler (digests, reminders, escalations)
// in-process and needs an instance that is always on; App Service gives that with `alwaysOn`, a built-in
// health-check path that takes unhealthy instances out of rotation, managed-identity pulls from ACR and a
// stable https host name, with no extra environment resource. Container Apps would also work with
// minReplicas >= 1, but adds a managed environment and scale-to-zero semantics we have to switch off.
//
// Deploy:  az deployment group create -g <rg> -f deployment/azure/main.bicep -p deployment/azure/main.parameters.json
// See deployment/README.md for the whole sequence (image push, Teams package, install).

targetScope = 'resourceGroup'

@description('Short lowercase prefix for resource names (3-11 letters/digits).')
@minLength(3)
@maxLength(11)
param namePrefix string = 'copbot'

@description('Azure region for everything except the bot registration (which is global).')
param location string = resourceGroup().location

@description('Image in the registry to run, as repository:tag.')
param containerImage string = 'copbot:latest'

@description('App Service plan SKU (B1 is enough for ~2,000 staff; P0v3 for production SLAs / slots).')
param appServiceSku string = 'B1'

@description('Azure Bot SKU: F0 (free, standard channels incl. Teams are free anyway) or S1.')
@allowed([
  'F0'
  'S1'
])
param botSku string = 'F0'

@description('Public host name of the bot if you map a custom domain; empty = <web app>.azurewebsites.net.')
param publicHostName string = ''

@description('Secret for signed links (calendar files, card tokens): at least 32 random characters.')
@secure()
@minLength(32)
param signingKey string

@description('Key of the impact survey\'s "already answered" markers (at least 32 random characters), so they survive a signing-key rotation. Empty = the signing key (see deployment/README.md, "Survey marker key").')
@secure()
param surveyMarkerKey string = ''

@description('Comma-separated Entra object ids of the programme team (Head of CoPs), for the `programme` command.')
param programmeAdmins string = ''

@description('Comma-separated tenant ids allowed to talk to the bot; default: this deployment\'s tenant only.')
param allowedTenants string = tenant().tenantId

var suffix = uniqueString(resourceGroup().id)
var identityName = '${namePrefix}-id'
var storageName = toLower(take('${namePrefix}st${suffix}', 24))
var registryName = toLower(take('${namePrefix}acr${suffix}', 50))
var planName = '${namePrefix}-plan'
var webAppName = '${namePrefix}-${suffix}'
var botName = '${namePrefix}-bot-${suffix}'
var hostName = empty(publicHostName) ? '${webAppName}.azurewebsites.net' : publicHostName

// Built-in role definition ids (the same in every Azure tenant).
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false // Entra ID (the managed identity) only: no account keys, no SAS
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled' // App Service reaches it over the internet; add a private endpoint for stricter setups
  }
}

// The Table service; the bot creates its tables on first use (the role below allows tables/write).
resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tableAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'CoP Bot reads and writes its Azure Tables'
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: registryName
  location: location
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false // pulls use the managed identity
  }
}

resource registryPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'CoP Bot web app pulls its image'
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: planName
  location: location
  kind: 'linux'
  sku: {
    name: appServiceSku
  }
  properties: {
    reserved: true // Linux
  }
}

resource webApp 'Microsoft.Web/sites@2023-12-01' = {
  name: webAppName
  location: location
  kind: 'app,linux,container'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      linuxFxVersion: 'DOCKER|${registry.properties.loginServer}/${containerImage}'
      acrUseManagedIdentityCreds: true
      acrUserManagedIdentityID: identity.properties.clientId
      alwaysOn: true // the in-process scheduler must keep running
      healthCheckPath: '/healthz'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        {
          name: 'WEBSITES_PORT'
          value: '3978'
        }
        {
          name: 'WEBSITES_ENABLE_APP_SERVICE_STORAGE'
          value: 'false'
        }
        // The Teams seam: the Microsoft 365 Agents SDK (botbuilder, the alternative, is not in the image by default).
        {
          name: 'COPBOT_SDK'
          value: 'agents'
        }
        // Bot identity, in the Agents SDK's names: the managed identity is the bot's app (no secret anywhere).
        {
          name: 'CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID'
          value: identity.properties.clientId
        }
        {
          name: 'CONNECTIONS__SERVICE_CONNECTION__SETTINGS__AUTHTYPE'
          value: 'UserManagedIdentity'
        }
        {
          name: 'CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID'
          value: identity.properties.tenantId
        }
        // Storage: Azure Tables through DefaultAzureCredential, which picks the identity named by AZURE_CLIENT_ID.
        {
          name: 'COPBOT_STORAGE'
          value: 'azure'
        }
        {
          name: 'AZURE_TABLES_ACCOUNT_URL'
          value: storage.properties.primaryEndpoints.table
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: identity.properties.clientId
        }
        // HTTP
        {
          name: 'COPBOT_HOST'
          value: '0.0.0.0'
        }
        {
          name: 'COPBOT_PORT'
          value: '3978'
        }
        {
          name: 'COPBOT_PUBLIC_URL'
          value: 'https://${hostName}'
        }
        {
          name: 'COPBOT_SIGNING_KEY'
          value: signingKey
        }
        {
          name: 'COPBOT_SURVEY_MARKER_KEY'
          value: surveyMarkerKey
        }
        {
          name: 'COPBOT_ALLOWED_TENANTS'
          value: allowedTenants
        }
        {
          name: 'COPBOT_PROGRAMME_ADMINS'
          value: programmeAdmins
        }
      ]
    }
  }
  dependsOn: [
    registryPull // the first pull must not race the role assignment
    tableAccess
  ]
}

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: botName
  location: 'global'
  kind: 'azurebot'
  sku: {
    name: botSku
  }
  properties: {
    displayName: 'CoP Bot'
    description: 'Communities of Practice assistant'
    endpoint: 'https://${hostName}/api/messages'
    msaAppType: 'UserAssignedMSI'
    msaAppId: identity.properties.clientId
    msaAppMSIResourceId: identity.id
    msaAppTenantId: identity.properties.tenantId
  }
}

resource teamsChannel 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
      enableCalling: false
    }
  }
}

@description('The bot\'s app id (the managed identity\'s client id): MICROSOFT_APP_ID for `make package`.')
output botAppId string = identity.properties.clientId

@description('COPBOT_PUBLIC_URL for `make package`.')
output publicUrl string = 'https://${hostName}'

output webAppName string = webApp.name
output webAppDefaultHostName string = webApp.properties.defaultHostName
output registryLoginServer string = registry.properties.loginServer
output registryName string = registry.name
output tablesAccountUrl string = storage.properties.primaryEndpoints.table
output botName string = bot.name
